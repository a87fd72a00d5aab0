// Live progress of a training run in the admin: while the run on the page is in progress, poll the staff-only
// JSON endpoint, update the bar and the text, and reload the page once the run has ended.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function tick(box) {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (run) {
        box.querySelector("progress").value = run.fraction;
        box.querySelector(".text").textContent = run.text;
        if (run.in_progress) {
          window.setTimeout(function () { tick(box); }, INTERVAL_MS);
        } else {
          window.setTimeout(function () { window.location.reload(); }, 500);
        }
      })
      .catch(function () {
        window.setTimeout(function () { tick(box); }, INTERVAL_MS * 2.5); // server busy or restarting: back off
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("training-run-progress");
    if (!box || box.getAttribute("data-active") !== "1") return;
    window.setTimeout(function () { tick(box); }, INTERVAL_MS);
  });
})();
