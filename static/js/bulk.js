// Browse pages: tick rows (or the header's box for the whole page), pick an action, apply.
// The form posts the ticked rows' ids (their checkboxes belong to #bulk-form); the server asks
// for confirmation before it changes anything. Shift-click ticks a range.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) {
    return;
  }
  var all = document.getElementById("bulk-all");
  var count = document.getElementById("bulk-count");
  var apply = document.getElementById("bulk-apply");
  var last = null;

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input.bulk-select"));
  }

  function update() {
    var list = boxes();
    var ticked = list.filter(function (box) { return box.checked; }).length;
    count.textContent = String(ticked);
    apply.disabled = ticked === 0;
    if (all) {
      all.checked = ticked > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    }
    list.forEach(function (box) {
      box.closest("tr").classList.toggle("table-active", box.checked);
    });
  }

  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  document.addEventListener("click", function (event) {
    var box = event.target.closest("input.bulk-select");
    if (!box) {
      return;
    }
    var list = boxes();
    if (event.shiftKey && last !== null && last !== box) {
      var a = list.indexOf(last);
      var b = list.indexOf(box);
      list.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (other) { other.checked = box.checked; });
    }
    last = box;
    update();
  });
  update();
})();
