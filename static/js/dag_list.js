// The DAG list refreshes itself (htmx, every few seconds) while runs are queued or running.
// A refresh waits while the user is in the middle of something on the list: a Links menu open,
// the search field focused, or the tab hidden; it swaps the list in the next time round.
(function () {
  "use strict";

  function busy(region) {
    var active = document.activeElement;
    return (
      document.visibilityState !== "visible" ||
      region.querySelector(".dropdown-menu.show") !== null ||
      (active !== null && region.contains(active) && active.matches("input, select, textarea"))
    );
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail.elt;
    if (region && region.id === "dag-list-live" && busy(region)) {
      event.preventDefault();
    }
  });
})();
