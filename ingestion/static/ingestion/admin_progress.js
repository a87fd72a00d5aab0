// Live progress in the admin (scrape jobs, dataset builds, training runs), for cells made by
// ingestion.admin_progress.live_cell: while any cell on the page is active (data-active="1"), poll the staff-only JSON
// endpoint in its data-url with ?ids=<the active cells' data-progress-id> and swap in the server-rendered HTML.
// The answer lists its items under the cell's data-list key (none: the answer is the one item); an item has `id`,
// `active` and the cell's HTML under the cell's data-html key. A cell with data-reload="1" reloads the page once its
// item has ended (so counts and links appear).
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function cells() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-progress-id]"));
  }

  function poll() {
    var active = cells().filter(function (cell) { return cell.getAttribute("data-active") === "1"; });
    if (!active.length) return;
    var ids = {};
    active.forEach(function (cell) { ids[cell.getAttribute("data-progress-id")] = true; });
    var listKey = active[0].getAttribute("data-list");
    var url = active[0].getAttribute("data-url") + "?ids=" + Object.keys(ids).join(",");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var reload = false;
        (listKey ? data[listKey] : [data]).forEach(function (item) {
          cells().forEach(function (cell) {
            if (cell.getAttribute("data-progress-id") !== String(item.id)) return;
            cell.innerHTML = item[cell.getAttribute("data-html")];
            cell.setAttribute("data-active", item.active ? "1" : "0");
            if (!item.active && cell.getAttribute("data-reload") === "1") reload = true;
          });
        });
        if (reload) window.location.reload();
        else window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () {
        window.setTimeout(poll, INTERVAL_MS * 5); // server busy or restarting: back off, keep trying
      });
  }

  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, INTERVAL_MS); });
})();
