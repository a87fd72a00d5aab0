/* The public pages' script: the upload form (preview, downscale, progress, several photos, drop and paste)
   and a prediction's page (waits for the answer and swaps it in). Without it the plain form still works. */
(function () {
  "use strict";

  // Worded as the `percent` template filter: never "100%" or "0%".
  function percent(p) {
    const v = Math.floor(p * 100 + 0.5);
    return v >= 100 ? "over 99%" : v <= 0 ? "under 1%" : v + "%";
  }

  const LONG_SIDE = 1600; // photos are sent at most this large on their long side (the history keeps these)
  const JPEG_QUALITY = 0.88;

  function fetchDocument(url) {
    return fetch(url, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
      .then(r => r.ok ? r.text() : Promise.reject(r.status))
      .then(html => new DOMParser().parseFromString(html, "text/html"));
  }

  /* ---- A prediction's page ---- */
  function followPrediction(box) {
    if (!box) return;
    const started = Date.now();
    const slowAfter = (parseFloat(box.dataset.slowAfter) || 20) * 1000;
    let delay = 500;

    function showHeatmap(url) {
      const toggle = document.getElementById("heatmap-toggle"), overlay = document.getElementById("heatmap");
      const caption = document.getElementById("heatmap-caption"), key = document.getElementById("heatmap-key");
      // No caption: nothing worth showing (a "not a pet" answer whose closest pet is under 1%).
      if (!url || !toggle || !overlay || !caption || !caption.textContent.trim() || !toggle.hidden) return;
      overlay.src = url;
      toggle.hidden = false;
      const sw = document.getElementById("heatmap-switch");
      // The caption and the colour key belong to the heat map: shown with it, hidden with it.
      const update = () => { overlay.hidden = !sw.checked; if (key) key.hidden = !sw.checked; };
      sw.addEventListener("change", update);
      update();
    }

    function swapIn() {
      // The server words the answer (one template for every state); replace the box's content with a fresh copy.
      return fetchDocument(window.location.href).then(doc => {
        const fresh = doc.getElementById("result");
        if (!fresh) return Promise.reject("no result");
        box.innerHTML = fresh.innerHTML;
        box.dataset.status = fresh.dataset.status;
        document.title = doc.title;
      });
    }

    function tick() {
      if (Date.now() - started > slowAfter) {
        const slow = document.getElementById("slow");
        if (slow) slow.hidden = false;
      }
    }

    function poll() {
      tick();
      fetch(box.dataset.api, {headers: {"Accept": "application/json"}})
        .then(r => r.ok ? r.json() : Promise.reject(r.status))
        .then(data => {
          if (data.status === "pending") return schedule();
          // While pending the page shows the upload itself; the worker makes the display copy with the answer.
          const photo = document.getElementById("photo");
          if (photo && data.display_url && photo.getAttribute("src") !== data.display_url) photo.src = data.display_url;
          if (photo && data.display_url) {  // a HEIC upload had nothing to show until now
            photo.hidden = false;
            const waiting = document.getElementById("photo-waiting");
            if (waiting) waiting.hidden = true;
          }
          // The fresh copy brings the heat map's caption (it says whether there is one worth showing).
          return swapIn().then(() => showHeatmap(data.heatmap_url), schedule);
        })
        .catch(status => status === 404 ? deleted() : schedule());
    }
    function deleted() {
      // The photo was deleted (by its uploader, or staff) while it was being classified: stop asking.
      box.dataset.status = "deleted";
      box.innerHTML = '<p class="notice" id="deleted" role="status">This photo was deleted. <a href="/">Upload another</a></p>';
      const slow = document.getElementById("slow");
      if (slow) slow.hidden = true;
      document.title = "Photo deleted · petsite";
    }
    function schedule() { delay = Math.min(delay * 1.3, 3000); setTimeout(poll, delay); }

    if (box.dataset.status === "pending") {
      setTimeout(poll, delay);
      setTimeout(tick, slowAfter + 50);
    } else if (box.dataset.status === "done") {
      fetch(box.dataset.api, {headers: {"Accept": "application/json"}}).then(r => r.json()).then(d => showHeatmap(d.heatmap_url)).catch(() => {});
    }
  }

  /* ---- The upload form ---- */
  function loadImage(file) {
    // Decoded with the photo's EXIF orientation applied (browsers do for <img> and createImageBitmap).
    if (window.createImageBitmap) {
      return createImageBitmap(file, {imageOrientation: "from-image"}).catch(() => createImageBitmap(file));
    }
    return new Promise((resolve, reject) => {
      const img = new Image(), url = URL.createObjectURL(file);
      img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("decode")); };
      img.src = url;
    });
  }

  // A photo larger than LONG_SIDE (or bigger than the size limit) becomes a JPEG of LONG_SIDE on its long side;
  // if the browser cannot decode or draw it, the original is sent and the server decides.
  function prepare(file, maxBytes) {
    return loadImage(file).then(img => {
      const w = img.width, h = img.height, long = Math.max(w, h);
      if (long <= LONG_SIDE && file.size <= maxBytes) return {blob: file, name: file.name, resized: false, width: w, height: h};
      const scale = Math.min(1, LONG_SIDE / long);
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(w * scale));
      canvas.height = Math.max(1, Math.round(h * scale));
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff"; // transparent PNGs get a white background in the JPEG
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      if (img.close) img.close();
      return new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY)).then(blob => {
        if (!blob) return {blob: file, name: file.name, resized: false};
        const name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
        return {blob: blob, name: name, resized: true, width: canvas.width, height: canvas.height};
      });
    }).catch(() => ({blob: file, name: file.name, resized: false}));
  }

  function send(form, prepared, onProgress) {
    return new Promise(resolve => {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      data.append("image", prepared.blob, prepared.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", e => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* an HTML error page */ }
        // The form's JSON error starts with the file name the server got ("notes.jpg: ..."); `problem` is the same
        // message without it, so the page names the file once, as the person chose it.
        const problem = body && (body.problem || body.error);
        if (xhr.status === 202 && body) resolve({ok: true, body: body});
        else if (xhr.status === 413) resolve({ok: false, status: 413, error: problem || "The file is too big."});
        else if (xhr.status === 429) {
          // Too many uploads from this address: nothing was judged; the server says when it takes uploads again.
          const wait = parseInt(xhr.getResponseHeader("Retry-After"), 10);
          resolve({ok: false, status: 429, retryAfter: wait > 0 ? wait : 10, error: problem || "Too many uploads just now. Please try again later."});
        }
        else resolve({ok: false, status: xhr.status, error: problem || "The upload failed (error " + xhr.status + "). Please try again."});
      });
      xhr.addEventListener("error", () => resolve({ok: false, status: 0, error: "The upload did not reach us (connection lost). Please try again."}));
      xhr.send(data);
    });
  }

  function initUpload(form) {
    if (!form || !window.FormData || !window.XMLHttpRequest) return;
    const input = form.querySelector("#id_image");
    const button = form.querySelector("#upload-button");
    const errorBox = form.querySelector("#upload-error");
    const preview = form.querySelector("#preview"), previewImg = form.querySelector("#preview-img"), previewName = form.querySelector("#preview-name");
    const progressBox = form.querySelector("#upload-progress"), progressBar = form.querySelector("#progress-bar"), progressText = form.querySelector("#progress-text");
    const dropzone = form.querySelector("#dropzone");
    const batch = document.getElementById("batch"), grid = document.getElementById("batch-grid"), batchStatus = document.getElementById("batch-status");
    const retryBox = document.getElementById("batch-retry"), retryText = document.getElementById("batch-retry-text");
    const retryButton = document.getElementById("batch-retry-button");
    const maxBytes = parseInt(form.dataset.maxBytes, 10) || 10e6;
    const maxFiles = parseInt(form.dataset.maxFiles, 10) || 20;
    const maxMb = Math.round(maxBytes / 1e6);
    // The accepted formats come from the server (ingestion/images.py), as the file input's accept list: MIME types and
    // suffixes. Browsers often give a HEIC file no type, or a made-up one: its name counts as well (the server decodes it).
    const accept = (form.dataset.accept || input.getAttribute("accept") || "").toLowerCase().split(",").map(s => s.trim()).filter(Boolean);
    const acceptedTypes = accept.filter(s => !s.startsWith(".")), acceptedSuffixes = accept.filter(s => s.startsWith("."));
    const FORMATS = form.dataset.formats || "supported";
    // HEIC/HEIF by type or suffix: a photo most browsers cannot show (the server decodes it). Any other file the
    // browser cannot decode does not look like a photo (the server still decides).
    function isHeic(file) {
      return /^image\/hei[cf]/.test(file.type || "") || /\.hei[cf]$/i.test(file.name || "");
    }
    function undecodable(file) {
      return isHeic(file) ? "(this browser cannot preview it; it will be sent as it is)"
                          : "doesn't look like a photo: this browser cannot open it. You can still send it; we will check it.";
    }
    function acceptable(file) {
      const name = (file.name || "").toLowerCase();
      return acceptedTypes.includes(file.type) || acceptedSuffixes.some(suffix => name.endsWith(suffix));
    }
    let chosen = [];
    let notSent = [];  // what choose() said of the files it left out
    let leftOut = 0;  // how many files it left out
    let busy = false;
    window.__petsite = {progress: [], sent: []}; // what the page did, for tests and for curious people

    function showError(messages) {
      errorBox.textContent = "";
      [].concat(messages).forEach(m => { const line = document.createElement("span"); line.textContent = m; errorBox.appendChild(line); });
    }

    function check(file) {
      if (!acceptable(file)) {
        return (file.name || "The pasted image") + ": not a " + FORMATS + " photo.";
      }
      if (!file.size) return file.name + ": the file is empty.";
      return null;
    }

    function choose(files) {
      if (busy) return;
      files = Array.from(files || []);
      const total = files.length;
      const problems = [];
      if (files.length > maxFiles) {
        problems.push("You chose " + files.length + " photos; up to " + maxFiles + " go at once, so only the first " + maxFiles + " will be sent.");
        files = files.slice(0, maxFiles);
      }
      const good = [];
      files.forEach(f => { const p = check(f); if (p) problems.push(p); else good.push(f); });
      leftOut = total - good.length;
      chosen = good;
      notSent = problems;  // stay on show after the upload starts: these files are not part of it
      showError(problems);
      if (previewImg.dataset.url) URL.revokeObjectURL(previewImg.dataset.url);
      preview.hidden = true;
      if (good.length <= 1) clearBatch();  // the photos chosen before are not sent: their grid goes
      if (good.length === 1) {
        const url = URL.createObjectURL(good[0]);
        const name = good[0].name || "Pasted image";
        previewImg.dataset.url = url;
        previewImg.hidden = false;
        // A browser that cannot show the format (HEIC outside Safari) still sends it; the server decodes it.
        const file = good[0];
        previewImg.onerror = () => {
          previewImg.hidden = true;
          previewName.textContent = isHeic(file) ? name + " " + undecodable(file) : name + ": " + undecodable(file);
          previewName.classList.toggle("warning", !isHeic(file));
        };
        previewName.classList.remove("warning");
        previewImg.src = url;
        previewImg.alt = "Preview of the photo you chose: " + (good[0].name || "pasted image");
        previewName.textContent = name;
        preview.hidden = false;
      } else if (good.length > 1) {
        startBatch(good, false);
      }
      button.textContent = good.length > 1 ? "Upload and classify " + good.length + " photos" : "Upload and classify";
      button.disabled = good.length === 0 && files.length > 0;
    }

    function progress(loaded, total) {
      window.__petsite.progressShown = window.__petsite.progressShown || !progressBox.hidden;
      const pct = total ? Math.floor(100 * loaded / total) : 0;
      progressBar.value = pct;
      progressText.textContent = pct + "%";
      window.__petsite.progress.push([loaded, total]);
    }

    function uploadOne(file) {
      busy = true;
      button.disabled = true;
      button.textContent = "Uploading…";
      progressBox.hidden = false;
      progress(0, 1);
      return prepare(file, maxBytes).then(prepared => {
        if (prepared.blob.size > maxBytes) return {ok: false, error: "The file is too big (" + (prepared.blob.size / 1e6).toFixed(1) + " MB); the limit is " + maxMb + " MB."};
        window.__petsite.sent.push({name: prepared.name, size: prepared.blob.size, resized: prepared.resized, width: prepared.width, height: prepared.height});
        return send(form, prepared, progress);
      }).then(result => {
        if (result.ok) {
          progress(1, 1);
          progressText.textContent = "Uploaded. Opening the result…";
          try { sessionStorage.setItem("petsiteLastUpload", JSON.stringify(window.__petsite)); } catch (e) { /* private mode */ }
          window.location.assign(result.body.page_url);
          return;
        }
        busy = false;
        button.disabled = false;
        button.textContent = "Upload and classify";
        progressBox.hidden = true;
        // The server refused the file itself (400): a note that the browser could not open it ("we will check it") is
        // stale now. A full server, a rate limit or a lost connection judged nothing, so the note stays.
        if (result.status === 400 && previewName.classList.contains("warning")) {
          preview.hidden = true;
          previewName.textContent = "";
          previewName.classList.remove("warning");
        }
        showError([...notSent, (file.name || "The pasted image") + ": " + result.error]);
        input.focus();
      });
    }

    /* Several photos: a grid of tiles that fills in as answers arrive. */
    let tiles = [];
    function revokePreviews() {
      tiles.forEach(t => { const img = t.el.querySelector("img[src^='blob:']"); if (img) URL.revokeObjectURL(img.src); });
    }
    function clearBatch() {
      stopRetry();
      revokePreviews();
      tiles = [];
      grid.innerHTML = "";
      batchStatus.textContent = "";
      batch.hidden = true;
    }
    function startBatch(files, go) {
      stopRetry();
      revokePreviews();  // the previous batch's previews go with its grid
      batch.hidden = false;
      grid.innerHTML = "";
      tiles = files.map((file, i) => {
        const tile = document.createElement("div");
        tile.className = "tile pending-tile";
        tile.dataset.index = i;
        tile.dataset.status = "waiting";
        const entry = {file: file, el: tile};
        const img = document.createElement("img");
        img.alt = "Preview of " + (file.name || "a pasted image");
        img.onerror = () => {  // no preview in this browser: a labelled grey square instead
          if (!isHeic(file)) {
            // It doesn't look like a photo: not "ready" (it is still sent, and the server's answer replaces this).
            entry.doubtful = true;
            if (entry.el.dataset.status === "waiting" && !entry.held) entry.text.textContent = readyText(entry);
          }
          const blank = document.createElement("span");
          blank.className = "photo-waiting";
          // HEIC: a photo this browser cannot show; anything else it cannot decode does not look like a photo
          blank.textContent = isHeic(file) ? "No preview" : "Doesn't look like a photo";
          blank.setAttribute("role", "img");
          blank.setAttribute("aria-label", img.alt);
          img.replaceWith(blank);
        };
        img.src = URL.createObjectURL(file);
        const caption = document.createElement("div");
        caption.className = "caption";
        const text = document.createElement("span");
        text.className = "answer muted";
        text.textContent = "Ready to upload";
        caption.appendChild(text);
        const bar = document.createElement("progress");
        bar.max = 100; bar.value = 0;
        bar.setAttribute("aria-label", "Upload of " + (file.name || "pasted image"));
        tile.append(img, caption, bar);
        grid.appendChild(tile);
        entry.text = text;
        entry.bar = bar;
        return entry;
      });
      batchStatus.textContent = files.length + " photos chosen. Press the button to upload them.";
      if (go) runBatch();
    }

    // A tile of a batch no longer shown (another photo was chosen since) stops asking and says nothing.
    function shown(t) { return tiles.includes(t); }

    function readyText(t) {
      return t.doubtful ? "We will check it when you upload." : "Ready to upload";
    }

    function updateBatchStatus() {
      if (!tiles.length) return;
      const done = tiles.filter(t => t.finished).length;
      const refused = tiles.filter(t => t.refused).length;
      const held = tiles.filter(t => t.held);
      let text = done + " of " + tiles.length + " photos answered…";
      if (held.length && !busy) {
        // Not sent yet: the server judged none of these photos; they go again (by themselves after a rate limit).
        const limited = held.filter(t => t.limited).length, failed = held.length - limited;
        text = held.length + " of " + tiles.length + (tiles.length > 1 ? " photos" : " photo") + " not sent yet: " +
               (!failed ? "too many uploads from your address just now. They will be sent by themselves."
                : !limited ? "the upload did not get through. Press “Try again now” to send them."
                : limited + " held back by too many uploads (sent by themselves), " + failed +
                  " did not get through (press “Try again now”).");
        if (refused) text += " " + refused + " refused (the tile says why).";
      } else if (done === tiles.length) {
        text = refused ? "Done: " + (tiles.length - refused) + " of " + tiles.length + " photos answered, " + refused + " refused (the tile says why)."
                       : (tiles.length === 2 ? "Both photos are done." : "All " + tiles.length + " photos are done.");
      }
      if (leftOut) text += " " + leftOut + (leftOut > 1 ? " files were" : " file was") + " not sent (see above).";
      batchStatus.textContent = text;
    }

    function pollTile(t, apiUrl, tileUrl) {
      let delay = 600;
      function poll() {
        if (!shown(t)) return;
        fetch(apiUrl, {headers: {"Accept": "application/json"}}).then(r => r.ok ? r.json() : Promise.reject(r.status)).then(data => {
          if (data.status === "pending") { delay = Math.min(delay * 1.3, 3000); setTimeout(poll, delay); return; }
          return fetch(tileUrl).then(r => r.text()).then(html => {
            if (!shown(t)) return;
            const holder = document.createElement("div");
            holder.innerHTML = html.trim();
            const fresh = holder.firstElementChild;
            t.el.replaceWith(fresh);
            t.el = fresh;
            t.finished = true;
            updateBatchStatus();
          });
        }).catch(status => {
          if (!shown(t)) return;
          if (status !== 404) return setTimeout(poll, 3000);
          t.el.dataset.status = "deleted";  // deleted meanwhile: stop asking
          t.text.textContent = "This photo was deleted.";
          t.finished = true;
          updateBatchStatus();
        });
      }
      setTimeout(poll, delay);
    }

    // A photo the server did not judge (a rate limit, a lost connection, a server error) waits to be sent again: it
    // is not a bad photo. Only a refusal of the file itself (400: not an image, damaged; 413: too big) is "refused".
    function hold(t, result) {
      t.held = true;
      t.limited = result.status === 429;
      t.el.dataset.status = "waiting";
      t.el.classList.add("held");
      t.bar.value = 0;
      t.bar.hidden = true;
      t.text.className = "answer muted";
      t.text.textContent = t.limited ? "Not sent yet (too many uploads)" : "Not sent yet: " + result.error;
    }

    function uploadTile(t) {
      t.held = t.limited = false;
      t.el.classList.remove("held");
      t.el.dataset.status = "uploading";
      t.text.className = "answer muted";
      t.text.textContent = "Uploading…";
      t.bar.hidden = false;
      return prepare(t.file, maxBytes).then(prepared => {
        if (prepared.blob.size > maxBytes) return {ok: false, status: 413, error: "too big (limit " + maxMb + " MB)"};
        window.__petsite.sent.push({name: prepared.name, size: prepared.blob.size, resized: prepared.resized, width: prepared.width, height: prepared.height});
        return send(form, prepared, (loaded, total) => { t.bar.value = Math.floor(100 * loaded / total); window.__petsite.progress.push([loaded, total]); });
      }).then(result => {
        if (!shown(t)) return result;  // another choice replaced this batch meanwhile
        if (result.ok) {
          t.sent = true;
          t.bar.value = 100;
          t.el.dataset.status = "pending";
          t.el.dataset.prediction = result.body.id;
          t.text.textContent = "Classifying…";
          pollTile(t, result.body.url, result.body.tile_url);
        } else if (result.status !== 400 && result.status !== 413) {
          hold(t, result);
        } else {
          t.el.dataset.status = "refused";
          t.el.classList.add("refused");
          t.bar.hidden = true;  // not a full blue bar: nothing was accepted
          const badge = document.createElement("span");
          badge.className = "badge failed";
          badge.textContent = "Refused";
          t.text.parentNode.appendChild(badge);
          t.text.textContent = (t.file.name || "Pasted image") + ": " + result.error;
          t.text.className = "answer error";
          t.finished = true;
          t.refused = true;
          updateBatchStatus();
        }
        return result;
      });
    }

    // After a rate limit: the page counts down the server's Retry-After, then sends the rate-limited photos by itself;
    // "Try again now" (or the form's button) sends every photo not sent yet at once.
    let retryTimer = null, retryAt = 0;
    function stopRetry() {
      if (retryTimer) clearInterval(retryTimer);
      retryTimer = null;
      if (retryBox) retryBox.hidden = true;
    }
    function seconds(n) { return n + (n === 1 ? " second" : " seconds"); }
    function offerRetry(waitSeconds) {
      stopRetry();
      if (!retryBox) return;
      retryBox.hidden = false;
      if (!waitSeconds) { retryText.textContent = ""; return; }
      retryAt = Date.now() + waitSeconds * 1000;
      const tick = () => {
        const left = Math.ceil((retryAt - Date.now()) / 1000);
        if (left <= 0) { stopRetry(); runBatch({onlyLimited: true}); return; }
        retryText.textContent = "Trying again by itself in " + seconds(left) + ".";
      };
      tick();
      retryTimer = setInterval(tick, 250);
    }
    if (retryButton) retryButton.addEventListener("click", () => { if (!busy) runBatch(); });

    function runBatch({onlyLimited = false} = {}) {
      stopRetry();
      // Only the photos not sent yet: never chosen ones sent again, nor ones refused for what they are. By itself (the
      // countdown) only those the rate limit held back: after a lost connection or a server error the server may have
      // stored the photo already, so only the person's "Try again now" sends it again.
      const queue = tiles.filter(t => !t.sent && !t.refused && !(onlyLimited && t.held && !t.limited));
      if (!queue.length) return;
      busy = true;
      button.disabled = true;
      button.textContent = "Uploading…";
      queue.forEach(t => { if (t.held) { t.held = false; t.el.classList.remove("held"); t.text.textContent = readyText(t); } });
      updateBatchStatus();
      let next = 0, wait = 0;  // wait: the longest Retry-After answered; the rest of the queue waits with it
      function take() { return !wait && next < queue.length ? queue[next++] : null; }
      function noteRetryAfter(result) { if (result && result.status === 429) wait = Math.max(wait, result.retryAfter); }
      function worker() {  // two uploads at a time: a phone's uplink is the limit, not the server
        const t = take();
        return t ? uploadTile(t).then(noteRetryAfter).then(worker) : Promise.resolve();
      }
      // The first photo goes alone: its answer may start this browser's session (whose token owns its uploads), which
      // the parallel ones after it then share; sent together, each would start a session of its own.
      const first = take();
      (first ? uploadTile(first).then(noteRetryAfter) : Promise.resolve()).then(() => Promise.all([worker(), worker()])).then(() => {
        busy = false;
        // Photos the rate limit kept from being tried at all wait with the ones it refused.
        queue.slice(next).forEach(t => hold(t, {status: 429}));
        const held = tiles.filter(t => t.held);
        button.disabled = false;
        if (!held.length) {
          chosen = [];
          input.value = "";
          button.textContent = "Upload and classify";
          updateBatchStatus();
          return;
        }
        // Nothing judged these photos: they stay chosen, in the picker and on the page, and go again.
        button.textContent = "Upload the " + (held.length > 1 ? held.length + " photos" : "photo") + " not sent yet";
        updateBatchStatus();
        offerRetry(held.some(t => t.limited) ? Math.max(wait, 1) : 0);
      });
    }

    input.addEventListener("change", () => choose(input.files));
    form.addEventListener("submit", e => {
      e.preventDefault();
      if (busy) return;
      if (!chosen.length) {
        if (input.files && input.files.length) choose(input.files);
        if (!chosen.length) { showError("Choose a photo first (" + FORMATS + ")."); input.focus(); return; }
      }
      showError(notSent);
      if (chosen.length === 1) uploadOne(chosen[0]);
      else { if (!tiles.length || tiles[0].file !== chosen[0]) startBatch(chosen, false); runBatch(); }
    });

    // Desktop: drop photos anywhere on the form, or paste one from the clipboard.
    ["dragenter", "dragover"].forEach(type => dropzone.addEventListener(type, e => { e.preventDefault(); dropzone.classList.add("dragging"); }));
    ["dragleave", "drop"].forEach(type => dropzone.addEventListener(type, () => dropzone.classList.remove("dragging")));
    dropzone.addEventListener("drop", e => { e.preventDefault(); if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files); });
    document.addEventListener("paste", e => {
      const files = Array.from((e.clipboardData && e.clipboardData.files) || []).filter(f => f.type.startsWith("image/"));
      if (!files.length) return;
      e.preventDefault();
      choose(files.map((f, i) => f.name && f.name !== "image.png" ? f : new File([f], "pasted-image-" + (i + 1) + "." + (f.type.split("/")[1] || "png"), {type: f.type})));
    });
  }

  window.PetSite = {percent: percent, followPrediction: followPrediction, initUpload: initUpload};
})();
