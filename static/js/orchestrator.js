/* Small enhancements of the server-rendered pages: grid selection, graph refresh and task modal,
 * log following. Every page works without this file; nothing here builds HTML from data, it only
 * inserts fragments the server rendered (and escaped) or sets attributes and textContent. */
(function () {
  "use strict";

  // -- Grid: load a clicked cell, run bar or task name into the grid fragment, keep the URL. --
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-grid-select]");
    var root = document.getElementById("grid-root");
    if (!link || !root || !window.htmx || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    var search = new URL(link.href, window.location.href).search;
    window.htmx.ajax("GET", root.dataset.fragmentUrl + search, { source: root, target: root, swap: "outerHTML" });
    window.history.pushState({ grid: true }, "", root.dataset.gridUrl + search);
  });
  window.addEventListener("popstate", function () {
    if (document.getElementById("grid-root")) {
      window.location.reload();
    }
  });

  // -- Selects that submit their form on change (the graph's run selector). --
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.form.submit();
    }
  });

  // -- Graph: colour nodes by state, refresh while the run is unfinished, open a task's panel. --
  function initGraph() {
    var box = document.getElementById("graph-box");
    var colorsEl = document.getElementById("state-colors");
    if (!box || !colorsEl) {
      return;
    }
    var colors = JSON.parse(colorsEl.textContent);

    function paint(taskId, state) {
      var node = document.getElementById("task-" + taskId);
      if (!node) {
        return;
      }
      node.dataset.state = state || "";
      node.querySelectorAll("path, polygon").forEach(function (shape) {
        if (state && state !== "none" && colors[state]) {
          shape.setAttribute("stroke", colors[state]);
          shape.setAttribute("stroke-width", "3");
        } else {
          shape.setAttribute("stroke", "#000000");
          shape.removeAttribute("stroke-width");
        }
      });
    }

    function setRunState(state) {
      var badge = document.getElementById("graph-run-state");
      if (badge && state) {
        badge.className = "state-badge state-" + state;
        badge.textContent = state;
      }
    }

    var initial = document.getElementById("graph-initial-states");
    if (initial) {
      var states = JSON.parse(initial.textContent);
      Object.keys(states).forEach(function (taskId) {
        paint(taskId, states[taskId]);
      });
    }

    box.querySelectorAll(".task-node").forEach(function (node) {
      if (box.dataset.panelUrl) {
        node.setAttribute("tabindex", "0");
        node.setAttribute("role", "button");
      }
    });

    var statesUrl = box.dataset.statesUrl;
    var live = box.dataset.live === "true";
    function poll() {
      fetch(statesUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          Object.keys(data.states).forEach(function (taskId) {
            paint(taskId, data.states[taskId]);
          });
          setRunState(data.run_state);
          live = !data.finished;
          if (!live) {
            var indicator = document.getElementById("graph-live");
            if (indicator) {
              indicator.remove();
            }
          }
        })
        .catch(function () {
          /* A failed refresh is retried at the next tick. */
        })
        .finally(function () {
          if (live) {
            window.setTimeout(poll, 3000);
          }
        });
    }
    if (statesUrl && live) {
      window.setTimeout(poll, 3000);
    }

    function openPanel(node) {
      var modalEl = document.getElementById("task-modal");
      var taskId = node.id.replace(/^task-/, "");
      var body = modalEl.querySelector(".modal-body");
      modalEl.querySelector(".modal-title").textContent = "Task: " + taskId;
      body.textContent = "Loading…";
      window.bootstrap.Modal.getOrCreateInstance(modalEl).show();
      fetch(box.dataset.panelUrl.replace("__TASK__", encodeURIComponent(taskId)), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          body.innerHTML = html; // the server's escaped fragment
          if (window.htmx) {
            window.htmx.process(body);
          }
        })
        .catch(function (error) {
          body.textContent = "Could not load the task instance (" + error.message + ").";
        });
    }

    box.addEventListener("click", function (event) {
      var node = event.target.closest(".task-node");
      if (node && box.dataset.panelUrl) {
        event.preventDefault();
        openPanel(node);
      }
    });
    box.addEventListener("keydown", function (event) {
      var node = event.target.closest(".task-node");
      if (node && box.dataset.panelUrl && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        openPanel(node);
      }
    });
  }

  // -- Log viewer: keep showing the end while new lines arrive, unless the reader scrolled up. --
  function initLog() {
    var pre = document.getElementById("log-content");
    if (!pre) {
      return;
    }
    var follow = true;
    pre.scrollTop = pre.scrollHeight;
    pre.addEventListener("scroll", function () {
      follow = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      if (follow) {
        pre.scrollTop = pre.scrollHeight;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initGraph();
    initLog();
  });
})();
