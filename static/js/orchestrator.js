/* Small enhancements of the server-rendered pages: grid selection, graph refresh and task modal,
 * log following. Every page works without this file; nothing here builds HTML from data, it only
 * inserts fragments the server rendered (and escaped) or sets attributes and textContent. */
(function () {
  "use strict";

  // -- Filters and toggles that submit their form when changed (no inline handlers: the
  // Content-Security-Policy allows scripts from this site's files only). --
  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) {
      field.form.submit();
    }
  });

  // -- Grid: load a clicked cell, run bar or task name into the grid fragment, keep the URL. --
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-grid-select]");
    var root = document.getElementById("grid-root");
    if (!link || !root || !window.htmx || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    selectInGrid(root, new URL(link.href, window.location.href).search);
  });

  // Load ``search`` (?run_id=..&task_id=..) into the grid, keeping the grid's filters.
  function selectInGrid(root, search) {
    var params = new URLSearchParams(search);
    new URLSearchParams(root.dataset.filterQuery || "").forEach(function (value, key) {
      if (!params.has(key)) {
        params.set(key, value);
      }
    });
    var query = params.toString() ? "?" + params.toString() : "";
    window.htmx.ajax("GET", root.dataset.fragmentUrl + query, { source: root, target: root, swap: "outerHTML" });
    window.history.pushState({ grid: true }, "", root.dataset.gridUrl + query);
  }

  // -- Grid: the keyboard moves the selection, as Airflow's grid: left/right a run, up/down a
  // task (from a run's bar, down enters its first task), Escape back to the run. --
  document.addEventListener("keydown", function (event) {
    var root = document.getElementById("grid-root");
    if (!root || !window.htmx || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = event.target;
    if (target.closest("input, select, textarea, [contenteditable], .modal") || document.querySelector(".modal.show")) {
      return;
    }
    var keys = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1], Escape: null };
    if (!(event.key in keys)) {
      return;
    }
    var table = root.querySelector("table.dag-grid");
    if (!table) {
      return;
    }
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th.grid-run"));
    var column = headers.findIndex(function (th) { return th.classList.contains("selected"); });
    if (column < 0) {
      column = headers.length - 1;
    }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr")).filter(function (tr) {
      return !tr.classList.contains("grid-folded") && !tr.classList.contains("grid-group-row");
    });
    var row = rows.findIndex(function (tr) { return tr.classList.contains("selected"); });
    var link;
    if (event.key === "Escape") {
      if (row < 0) {
        return;
      }
      link = headers[column].querySelector("a");
    } else {
      var move = keys[event.key];
      var nextColumn = Math.min(Math.max(column + move[0], 0), headers.length - 1);
      var nextRow = row < 0 ? (move[1] > 0 ? 0 : -1) : Math.min(Math.max(row + move[1], -1), rows.length - 1);
      if (nextRow < 0) {
        link = headers[nextColumn].querySelector("a");
      } else {
        // The cell of that run in that row: the row's first cell is its name.
        var cells = rows[nextRow].querySelectorAll("td");
        link = cells[nextColumn] && cells[nextColumn].querySelector("a");
      }
    }
    if (!link) {
      return;
    }
    event.preventDefault();
    selectInGrid(root, new URL(link.href, window.location.href).search);
  });

  // -- Grid: task groups fold (closed at first, as in Airflow); the open ones are remembered per
  // DAG in localStorage, so that the 3-second refresh and the next visit keep them. --
  function openGroups(root) {
    try {
      return JSON.parse(window.localStorage.getItem("grid-open-groups:" + root.dataset.gridUrl) || "[]");
    } catch (error) {
      return [];
    }
  }
  function saveOpenGroups(root, ids) {
    try {
      window.localStorage.setItem("grid-open-groups:" + root.dataset.gridUrl, JSON.stringify(ids));
    } catch (error) {
      /* Private mode: folding still works for this page. */
    }
  }
  var revealed = null;
  function applyFolding() {
    var root = document.getElementById("grid-root");
    if (!root || !root.querySelector(".grid-group-row")) {
      return;
    }
    var ids = openGroups(root);
    // A newly selected task's groups are opened once, so that the selection is visible.
    var selected = root.querySelector("tbody tr.selected[data-parents]");
    var key = selected ? selected.querySelector("a").getAttribute("href") : null;
    if (selected && key !== revealed) {
      selected.dataset.parents.split(" ").forEach(function (id) {
        if (ids.indexOf(id) < 0) {
          ids.push(id);
        }
      });
      saveOpenGroups(root, ids);
    }
    revealed = key;
    var open = {};
    ids.forEach(function (id) {
      open[id] = true;
    });
    root.querySelectorAll("tbody tr[data-parents]").forEach(function (row) {
      var parents = row.dataset.parents.split(" ").filter(Boolean);
      var hidden = parents.some(function (id) {
        return !open[id];
      });
      row.classList.toggle("grid-folded", hidden);
    });
    root.querySelectorAll("[data-group-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", open[button.dataset.groupToggle] ? "true" : "false");
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-group-toggle]");
    var root = document.getElementById("grid-root");
    if (!button || !root) {
      return;
    }
    var id = button.dataset.groupToggle;
    var ids = openGroups(root).filter(function (other) {
      return other !== id;
    });
    if (button.getAttribute("aria-expanded") !== "true") {
      ids.push(id);
    }
    saveOpenGroups(root, ids);
    applyFolding();
  });
  document.addEventListener("htmx:afterSwap", applyFolding);
  document.addEventListener("DOMContentLoaded", applyFolding);

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
    var groupsEl = document.getElementById("graph-group-members");
    var groups = groupsEl ? JSON.parse(groupsEl.textContent) : {};
    var priorityEl = document.getElementById("graph-group-priority");
    var priority = priorityEl ? JSON.parse(priorityEl.textContent) : [];
    var known = {};

    // A collapsed group shows the first of its tasks' states in Airflow's priority order.
    function groupState(groupId) {
      var present = {};
      (groups[groupId] || []).forEach(function (taskId) {
        present[known[taskId] || "none"] = true;
      });
      for (var i = 0; i < priority.length; i++) {
        if (present[priority[i]]) {
          return priority[i];
        }
      }
      return "";
    }

    function paintNode(node, state) {
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

    function paint(taskId, state) {
      known[taskId] = state;
      var node = document.getElementById("task-" + taskId);
      if (node) {
        paintNode(node, state);
      }
    }

    function paintGroups() {
      box.querySelectorAll(".group-node").forEach(function (node) {
        paintNode(node, groupState(node.id.replace(/^group-/, "")));
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
      if (Object.keys(states).length) {
        paintGroups();
      }
    }

    // Open a collapsed group (click its node) or close an open one (click its frame): the
    // server draws the graph again with ?expanded= listing the open groups.
    function setExpanded(groupId, open) {
      var url = new URL(window.location.href);
      var current = url.searchParams.get("expanded");
      var ids = current === "all" ? Object.keys(groups) : (current || "").split(",").filter(Boolean);
      ids = ids.filter(function (id) {
        // Closing a group closes the groups inside it too.
        return id !== groupId && (open || id.indexOf(groupId + ".") !== 0);
      });
      if (open) {
        ids.push(groupId);
      }
      if (ids.length) {
        url.searchParams.set("expanded", ids.join(","));
      } else {
        url.searchParams.delete("expanded");
      }
      window.location.assign(url.toString());
    }
    box.querySelectorAll(".group-node, .task-group").forEach(function (node) {
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
    });

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
          paintGroups();
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
          restorePanels(body);
        })
        .catch(function (error) {
          body.textContent = "Could not load the task instance (" + error.message + ").";
        });
    }

    function activate(event) {
      var node = event.target.closest(".task-node");
      if (node && box.dataset.panelUrl) {
        event.preventDefault();
        openPanel(node);
        return;
      }
      var group = event.target.closest(".group-node");
      if (group) {
        event.preventDefault();
        setExpanded(group.id.replace(/^group-/, ""), true);
        return;
      }
      var cluster = event.target.closest(".task-group");
      if (cluster) {
        event.preventDefault();
        setExpanded(cluster.id.replace(/^cluster-/, ""), false);
      }
    }
    box.addEventListener("click", activate);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        activate(event);
      }
    });
  }

  // -- Log viewer: keep showing the end while new lines arrive, unless the reader scrolled up;
  // wrap toggle (remembered), level filter, jump to the first error, full screen. The lines are
  // the server's escaped <span class="log-line log-LEVEL">; this only sets classes and attributes. --
  function stored(key, fallback) {
    try {
      var value = window.localStorage.getItem(key);
      return value === null ? fallback : value;
    } catch (error) {
      return fallback;
    }
  }
  function store(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (error) {
      /* not kept */
    }
  }
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
    var firstError = document.getElementById("log-first-error");
    function updateFirstError() {
      if (firstError) {
        firstError.disabled = !pre.querySelector(".log-error, .log-critical");
      }
    }
    updateFirstError();
    document.body.addEventListener("htmx:afterSettle", function () {
      updateFirstError();
      if (follow) {
        pre.scrollTop = pre.scrollHeight;
      }
    });
    if (firstError) {
      firstError.addEventListener("click", function () {
        var line = pre.querySelector(".log-error, .log-critical");
        if (!line) {
          return;
        }
        pre.querySelectorAll(".log-jump").forEach(function (el) { el.classList.remove("log-jump"); });
        line.classList.add("log-jump");
        follow = false;
        pre.scrollTop = line.offsetTop - pre.offsetTop - 24;
      });
    }
    var wrap = document.getElementById("log-wrap");
    if (wrap) {
      wrap.checked = stored("log-wrap", "1") === "1";
      pre.classList.toggle("log-nowrap", !wrap.checked);
      wrap.addEventListener("change", function () {
        pre.classList.toggle("log-nowrap", !wrap.checked);
        store("log-wrap", wrap.checked ? "1" : "0");
      });
    }
    document.querySelectorAll("input[name=log-level]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked) {
          pre.dataset.level = radio.value;
        }
      });
    });
    var full = document.getElementById("log-fullscreen");
    var viewer = document.getElementById("log-viewer");
    if (full && viewer && viewer.requestFullscreen) {
      full.addEventListener("click", function () {
        if (document.fullscreenElement) {
          document.exitFullscreen();
        } else {
          viewer.requestFullscreen();
        }
      });
    } else if (full) {
      full.hidden = true;
    }
  }

  // -- Task panel (grid side panel, graph modal, task instance page): the tab chosen is kept
  // for the next panel and across the grid's refreshes; the Log tab's try buttons load that
  // try's log into the panel (live while it runs, through the fragment's own poller). --
  var TAB_KEY = "task-panel-tab";
  document.addEventListener("shown.bs.tab", function (event) {
    var tab = event.target.dataset.tab;
    if (tab && event.target.closest(".task-tabs")) {
      try {
        window.sessionStorage.setItem(TAB_KEY, tab);
      } catch (error) {
        /* not kept */
      }
    }
  });
  function restorePanels(scope) {
    var wanted = null;
    try {
      wanted = window.sessionStorage.getItem(TAB_KEY);
    } catch (error) {
      wanted = null;
    }
    (scope || document).querySelectorAll(".task-panel").forEach(function (panel) {
      if (wanted && window.bootstrap) {
        var button = panel.querySelector('.task-tabs [data-tab="' + wanted + '"]');
        if (button && !button.classList.contains("active")) {
          window.bootstrap.Tab.getOrCreateInstance(button).show();
        }
      }
      // A preserved log (hx-preserve) may show another try than the newest: mark its button.
      var pre = panel.querySelector("pre.panel-log");
      panel.querySelectorAll(".panel-log-tries [data-log-url]").forEach(function (button) {
        var current = pre && button.dataset.try === pre.dataset.try;
        button.classList.toggle("btn-secondary", current);
        button.classList.toggle("btn-outline-secondary", !current);
      });
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".panel-log-tries [data-log-url]");
    if (!button || !window.htmx) {
      return;
    }
    var panel = button.closest(".task-panel");
    var pre = panel && panel.querySelector("pre.panel-log");
    if (!pre) {
      return;
    }
    pre.dataset.try = button.dataset.try;
    pre.textContent = "";
    window.htmx.ajax("GET", button.dataset.logUrl, { source: pre, target: pre, swap: "innerHTML" });
    restorePanels(panel.parentNode);
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.classList && target.classList.contains("panel-log")) {
      target.scrollTop = target.scrollHeight; // follow the end, as the log page does
      return;
    }
    if (target && target.closest && (target.id === "grid-root" || target.querySelector(".task-panel"))) {
      restorePanels(target.parentNode || document);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    initGraph();
    initLog();
    restorePanels(document);
  });
})();
