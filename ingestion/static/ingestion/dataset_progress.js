// Live progress of dataset builds in the admin: while a build on the page is queued or running, poll the
// staff-only JSON endpoint and swap in the server-rendered cell; reload the page once a build ends (counts appear).
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function cells() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-dataset-version]"));
  }

  function poll() {
    var active = cells().filter(function (cell) { return cell.getAttribute("data-active") === "1"; });
    if (!active.length) return;
    var ids = active.map(function (cell) { return cell.getAttribute("data-dataset-version"); });
    fetch(active[0].getAttribute("data-url") + "?ids=" + ids.join(","), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var ended = false;
        data.versions.forEach(function (version) {
          cells().forEach(function (cell) {
            if (cell.getAttribute("data-dataset-version") !== String(version.id)) return;
            cell.innerHTML = version.html;
            if (!version.active) ended = true;
            cell.setAttribute("data-active", version.active ? "1" : "0");
          });
        });
        if (ended) window.location.reload();
        else window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 5); });
  }

  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, INTERVAL_MS); });
})();
