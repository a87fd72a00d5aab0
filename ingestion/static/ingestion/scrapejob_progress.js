// Live progress of scrape jobs in the admin: while any job on the page is queued or running,
// poll the staff-only JSON endpoint and swap in the server-rendered status and progress cells.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function cells() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-scrape-job]"));
  }

  function activeIds() {
    var ids = {};
    cells().forEach(function (cell) {
      if (cell.getAttribute("data-active") === "1") ids[cell.getAttribute("data-scrape-job")] = true;
    });
    return Object.keys(ids);
  }

  function apply(job) {
    cells().forEach(function (cell) {
      if (cell.getAttribute("data-scrape-job") !== String(job.id)) return;
      var kind = cell.getAttribute("data-kind");
      cell.innerHTML = kind === "status" ? job.status_html : job.progress_html;
      cell.setAttribute("data-active", job.active ? "1" : "0");
    });
  }

  function poll() {
    var ids = activeIds();
    if (!ids.length) return;
    var url = cells()[0].getAttribute("data-url") + "?ids=" + ids.join(",");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        data.jobs.forEach(apply);
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () {
        window.setTimeout(poll, INTERVAL_MS * 5); // server busy or restarting: back off, keep trying
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(poll, INTERVAL_MS);
  });
})();
