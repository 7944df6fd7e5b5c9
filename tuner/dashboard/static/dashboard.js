/* tuner dashboard: keeps the server-rendered pages live from the read-only JSON API.
 *
 * Every value is written with textContent or as a DOM attribute, never with innerHTML, so
 * job names, categorical values, failure reasons and log lines stay text. Chart figures come
 * from the server with their labels already escaped for plotly. Pages of running jobs poll
 * the API every data-poll-ms milliseconds (2 s) and stop once the job has ended.
 */
(function () {
  "use strict";

  var body = document.body;
  var POLL_MS = parseInt(body.dataset.pollMs || "2000", 10);
  // Charts of a running job are redrawn at most this often (big jobs: less often).
  var CHART_REFRESH_MS = 10000;
  var SMALL_JOB_CHART_REFRESH_MS = 4000;
  var PLOT_CONFIG = { displaylogo: false, responsive: true };

  // -- helpers -----------------------------------------------------------------------------
  function $(id) {
    return document.getElementById(id);
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") {
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
      }
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) {
            throw new Error((data && data.Error) || response.statusText);
          }
          data.__status = response.status;
          return data;
        });
      });
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function link(href, text) {
    var a = el("a", text);
    a.setAttribute("href", href);
    return a;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function setText(id, text) {
    var node = $(id);
    if (node) node.textContent = text === null || text === undefined ? "" : String(text);
  }

  // Python's "{:.6g}", so values read the same as on the server-rendered page.
  function fmtValue(v, digits) {
    if (v === null || v === undefined) return "-";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return String(v);
    digits = digits || 6;
    if (v === 0) return "0";
    var rounded = Number(v.toPrecision(digits));
    var exponent = Math.floor(Math.log10(Math.abs(rounded)));
    if (exponent < -4 || exponent >= digits) {
      var parts = rounded.toExponential(digits - 1).split("e");
      var mantissa = parts[0].indexOf(".") >= 0 ? parts[0].replace(/\.?0+$/, "") : parts[0];
      var exp = parseInt(parts[1], 10);
      return mantissa + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
    }
    var fixed = rounded.toFixed(Math.max(0, digits - 1 - exponent));
    return fixed.indexOf(".") >= 0 ? fixed.replace(/\.?0+$/, "") : fixed;
  }

  // A hyperparameter value as the tables show it (app.fmt_param): AMT stores values as
  // strings, so a sampled float has 17 digits; round it to 6 significant ones, as values are.
  var FLOAT_TEXT = /^[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?$/;
  function fmtParam(v) {
    if (v === null || v === undefined) return "";
    var text = String(v);
    if (!FLOAT_TEXT.test(text)) return text;
    var digits = text.split(/[eE]/)[0].replace(/^[-+]/, "").replace(".", "").replace(/^0+/, "");
    return digits.length > 6 ? fmtValue(parseFloat(text)) : text;
  }

  // "2026-12-07T14:23:18+00:00" -> "2026-12-07 14:23:18": the header says UTC.
  function fmtWhen(stamp) {
    if (!stamp) return "-";
    return String(stamp).replace("T", " ").replace(/\+00:00$/, "");
  }

  // A table cell showing a value rounded, the exact value in its tooltip.
  function paramCell(v) {
    var cell = el("td", fmtParam(v), "hp");
    cell.title = v === undefined || v === null ? "" : String(v);
    return cell;
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    var s = Math.round(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (h) return h + "h " + pad(m) + "m " + pad(sec) + "s";
    return m ? m + "m " + pad(sec) + "s" : sec + "s";
  }

  function statusBadge(status) {
    var span = el("span", status, "status status-" + status);
    return span;
  }

  function plot(node, figure) {
    if (!node || !window.Plotly) return;
    if (!figure) {
      if (node.data) window.Plotly.purge(node);
      clear(node);
      node.appendChild(el("p", "Nothing to draw yet.", "dim"));
      node.classList.add("empty-chart");
      return;
    }
    if (node.classList.contains("empty-chart")) {
      clear(node);
      node.classList.remove("empty-chart");
    }
    window.Plotly.react(node, figure.data, figure.layout, PLOT_CONFIG);
    linkPoints(node);
  }

  // A click on a point whose customdata is a trial number opens that training job's page.
  // Registered again after every draw: Plotly.purge (a chart switching kind) drops listeners.
  function linkPoints(node) {
    if (!body.dataset.job || !node.on) return;
    node.removeAllListeners("plotly_click");
    node.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      var number = point ? point.customdata : null;
      if (typeof number === "number" && isFinite(number)) {
        window.location.assign("/jobs/" + encodeURIComponent(body.dataset.job) + "/trials/" + number);
      }
    });
  }

  // One chart <div> per figure inside `container`, reused across refreshes (ids by key).
  function plotMany(container, items, keyOf, prefix, cssClass) {
    var wanted = {};
    items.forEach(function (item, i) {
      var id = prefix + "-" + i;
      wanted[id] = true;
      var node = $(id);
      if (!node) {
        node = el("div", null, cssClass);
        node.id = id;
        container.appendChild(node);
      }
      node.dataset.key = keyOf(item);
      plot(node, item.Figure);
    });
    Array.prototype.slice.call(container.children).forEach(function (node) {
      if (!wanted[node.id]) {
        if (window.Plotly && node.data) window.Plotly.purge(node);
        container.removeChild(node);
      }
    });
  }

  function sampleText(sample, what) {
    if (!sample) return "";
    if (!sample.Sampled) return what + ": all " + sample.Total + " shown.";
    return what + ": " + sample.Shown + " of " + sample.Total + " shown (" + sample.How + ").";
  }

  function markLive(live) {
    var node = $("live-state");
    if (!node) return;
    node.textContent = live ? " · live, updated " + new Date().toLocaleTimeString() : "";
    node.className = live ? "live" : "";
  }

  // -- the list of tuning jobs ----------------------------------------------------------------
  function initJobs() {
    var form = $("jobs-form");
    var state = {
      search: $("jobs-search").value,
      sort: $("jobs-sort").value,
      order: $("jobs-order").value,
      page: parseInt($("jobs-pager").dataset.page, 10) || 1,
    };
    var timer = null;
    var searchTimer = null;

    function render(data) {
      var tbody = $("jobs-body");
      clear(tbody);
      if (!data.TuningJobs.length) {
        var row = el("tr", null, "empty");
        var cell = el("td", state.search ? "No tuning jobs match \u201c" + state.search + "\u201d." : "No tuning jobs.");
        cell.colSpan = 7;
        row.appendChild(cell);
        tbody.appendChild(row);
      }
      data.TuningJobs.forEach(function (job) {
        var c = job.TrainingJobStatusCounters;
        var row = el("tr");
        row.dataset.job = job.HyperParameterTuningJobName;
        var name = el("td");
        name.appendChild(link("/jobs/" + encodeURIComponent(job.HyperParameterTuningJobName), job.HyperParameterTuningJobName));
        row.appendChild(name);
        var status = el("td");
        status.appendChild(statusBadge(job.HyperParameterTuningJobStatus));
        row.appendChild(status);
        row.appendChild(el("td", job.Strategy));
        row.appendChild(el("td", job.TrainingJobs + ": " + c.Completed + " completed, " + c.InProgress +
          " running, " + (c.RetryableError + c.NonRetryableError) + " failed, " + c.Stopped + " stopped", "counters"));
        var best = el("td", fmtValue(job.BestObjectiveValue) + " ");
        best.appendChild(el("span", job.Objective.Type + " " + job.Objective.MetricName, "dim"));
        row.appendChild(best);
        row.appendChild(el("td", fmtWhen(job.CreationTime)));
        row.appendChild(el("td", fmtDuration(job.DurationSeconds)));
        tbody.appendChild(row);
      });
      document.querySelectorAll("#jobs-table th[data-sort]").forEach(function (th) {
        th.classList.remove("sorted-asc", "sorted-desc");
        if (th.dataset.sort === data.Sort) th.classList.add("sorted-" + data.Order);
      });
      setText("jobs-info", data.Total + " tuning job" + (data.Total === 1 ? "" : "s"));
      renderPager(data);
      var live = data.TuningJobs.some(function (j) { return j.IsLive; });
      markLive(live);
      schedule(live);
    }

    function renderPager(data) {
      var pager = $("jobs-pager");
      clear(pager);
      var go = function (page, label, id) {
        var a = link("#", label);
        a.id = id;
        a.addEventListener("click", function (e) {
          e.preventDefault();
          state.page = page;
          load();
        });
        pager.appendChild(a);
      };
      if (data.Page > 1) go(data.Page - 1, "\u2039 Previous", "jobs-prev");
      if (data.Page * data.PerPage < data.Total) go(data.Page + 1, "Next \u203a", "jobs-next");
    }

    function load() {
      var params = { search: state.search, sort: state.sort, order: state.order, page: state.page };
      history.replaceState(null, "", "/" + query(params));
      return getJSON("/api/jobs" + query(params)).then(render).catch(showError);
    }

    function schedule(live) {
      if (timer) clearTimeout(timer);
      timer = live ? setTimeout(load, POLL_MS) : null;
    }

    document.querySelectorAll("#jobs-table th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function (e) {
        e.preventDefault();
        var key = th.dataset.sort;
        if (state.sort === key) {
          state.order = state.order === "asc" ? "desc" : "asc";
        } else {
          state.sort = key;
          state.order = ["name", "status", "strategy"].indexOf(key) >= 0 ? "asc" : "desc";
        }
        state.page = 1;
        load();
      });
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      state.search = $("jobs-search").value;
      state.page = 1;
      load();
    });
    $("jobs-search").addEventListener("input", function () {
      if (searchTimer) clearTimeout(searchTimer);
      searchTimer = setTimeout(function () {
        state.search = $("jobs-search").value;
        state.page = 1;
        load();
      }, 250);
    });
    load();
  }

  // -- one tuning job -------------------------------------------------------------------------
  function initJob() {
    var name = body.dataset.job;
    var base = "/api/jobs/" + encodeURIComponent(name);
    var table = $("trials-table");
    var trials = {
      page: 1,
      perPage: parseInt($("trials-per-page").value, 10),
      sort: table.dataset.sort,
      order: table.dataset.order,
      status: $("trials-status").value,
    };
    var tuned = [];
    var lastCounts = null;
    var lastCharts = 0;
    var chartsWithReadings = false;
    var live = body.dataset.live === "true";

    // Summary: status, counters, best training job.
    function renderSummary(job) {
      var badge = $("job-status");
      badge.textContent = job.HyperParameterTuningJobStatus;
      badge.className = "status status-" + job.HyperParameterTuningJobStatus;
      setText("job-ended", job.HyperParameterTuningEndTime || "-");
      setText("job-duration", fmtDuration(job.DurationSeconds));
      var failure = $("job-failure");
      failure.textContent = job.FailureReason || "";
      failure.hidden = !job.FailureReason;
      var c = job.TrainingJobStatusCounters;
      Object.keys(c).forEach(function (k) { setText("counter-" + k, c[k]); });
      var o = job.ObjectiveStatusCounters;
      Object.keys(o).forEach(function (k) { setText("objective-" + k, o[k]); });
      setText("counter-total", job.TrainingJobs + (job.MaxNumberOfTrainingJobs ? " / " + job.MaxNumberOfTrainingJobs : ""));
      tuned = job.TunedHyperParameters;
      renderBest(job);
      markLive(job.IsLive);
    }

    function renderBest(job) {
      var box = $("best");
      clear(box);
      box.appendChild(el("h2", "Best training job"));
      var best = job.BestTrainingJob;
      if (!best) {
        var none = el("p", "No training job has an objective value yet.", "dim");
        none.id = "best-none";
        box.appendChild(none);
        return;
      }
      var p = el("p");
      var a = link("/jobs/" + encodeURIComponent(name) + "/trials/" + best.TrialNumber, best.TrainingJobName);
      a.id = "best-link";
      p.appendChild(a);
      p.appendChild(document.createTextNode(": "));
      var value = el("b", fmtValue(best.FinalObjectiveValue));
      value.id = "best-value";
      p.appendChild(value);
      p.appendChild(document.createTextNode(" "));
      p.appendChild(el("span", job.Objective.MetricName, "dim"));
      box.appendChild(p);
      var kv = el("table", null, "kv");
      kv.id = "best-hyperparameters";
      Object.keys(best.TunedHyperParameters).forEach(function (k) {
        var row = el("tr");
        row.appendChild(el("th", k));
        row.appendChild(paramCell(best.TunedHyperParameters[k]));
        kv.appendChild(row);
      });
      box.appendChild(kv);
    }

    // The trials table: sorted, filtered and paginated by the server.
    function renderTrials(data) {
      var tbody = $("trials-body");
      clear(tbody);
      var columns = data.TunedHyperParameters;
      if (!data.TrainingJobs.length) {
        var row = el("tr", null, "empty");
        var cell = el("td", "No training jobs" + (data.Status !== "All" ? " with status " + data.Status : "") + ".");
        cell.colSpan = 8 + columns.length;
        row.appendChild(cell);
        tbody.appendChild(row);
      }
      data.TrainingJobs.forEach(function (t) {
        var row = el("tr");
        row.dataset.number = t.TrialNumber;
        row.appendChild(el("td", t.TrialNumber));
        var nameCell = el("td");
        nameCell.appendChild(link("/jobs/" + encodeURIComponent(name) + "/trials/" + t.TrialNumber, t.TrainingJobName));
        row.appendChild(nameCell);
        var status = el("td");
        status.appendChild(statusBadge(t.TrainingJobStatus));
        row.appendChild(status);
        row.appendChild(el("td", fmtValue(t.FinalObjectiveValue), "num"));
        row.appendChild(el("td", t.EpochsReported, "num"));
        columns.forEach(function (p) { row.appendChild(paramCell(t.TunedHyperParameters[p])); });
        row.appendChild(el("td", fmtWhen(t.TrainingStartTime)));
        row.appendChild(el("td", fmtDuration(t.DurationSeconds), "num"));
        var reason = el("td", t.FailureReason || "", "reason");
        reason.title = t.FailureReason || "";
        row.appendChild(reason);
        tbody.appendChild(row);
      });
      table.querySelectorAll("th[data-sort]").forEach(function (th) {
        th.classList.remove("sorted-asc", "sorted-desc");
        if (th.dataset.sort === data.Sort) th.classList.add("sorted-" + data.Order);
      });
      table.dataset.sort = data.Sort;
      table.dataset.order = data.Order;
      var pages = Math.max(1, Math.ceil(data.Total / data.PerPage));
      setText("trials-info", data.Total + " training job" + (data.Total === 1 ? "" : "s") +
        (data.Status !== "All" ? " with status " + data.Status : ""));
      setText("trials-page", "page " + data.Page + " of " + pages);
      $("trials-prev").disabled = data.Page <= 1;
      $("trials-next").disabled = data.Page >= pages;
    }

    function loadTrials() {
      var params = {
        page: trials.page, per_page: trials.perPage, sort: trials.sort,
        order: trials.order, status: trials.status,
      };
      return getJSON(base + "/trials" + query(params)).then(renderTrials).catch(showError);
    }

    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      var sortBy = function () {
        var key = th.dataset.sort;
        if (trials.sort === key) {
          trials.order = trials.order === "asc" ? "desc" : "asc";
        } else {
          trials.sort = key;
          trials.order = key === "started" || key === "duration" ? "desc" : "asc";
        }
        trials.page = 1;
        loadTrials();
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(); }
      });
    });
    $("trials-status").addEventListener("change", function () {
      trials.status = this.value;
      trials.page = 1;
      loadTrials();
    });
    $("trials-per-page").addEventListener("change", function () {
      trials.perPage = parseInt(this.value, 10);
      trials.page = 1;
      loadTrials();
    });
    $("trials-prev").addEventListener("click", function () {
      if (trials.page > 1) { trials.page -= 1; loadTrials(); }
    });
    $("trials-next").addEventListener("click", function () {
      trials.page += 1;
      loadTrials();
    });

    // Charts. The objective chart is drawn from the last figure and two controls: hide the
    // training jobs stopped early (their values, taken where they stopped, set the y-range
    // and squash the completed ones) and a log y-axis (offered while every value is > 0).
    var objectiveFigure = null;
    function drawObjective() {
      var figure = objectiveFigure;
      var hide = $("objective-hide-stopped");
      var logBox = $("objective-log");
      if (!figure) { plot($("chart-objective"), null); return; }
      var stopped = figure.data.filter(function (t) { return t.uid === "stopped"; });
      hide.disabled = !stopped.length;
      hide.parentNode.title = stopped.length ? "" : "no training job was stopped early";
      var data = figure.data.map(function (t) {
        return t.uid === "stopped" ? Object.assign({}, t, { visible: !hide.checked }) : t;
      });
      var positive = data.every(function (t) {
        return t.visible === false || t.y.every(function (y) { return y === null || y > 0; });
      });
      logBox.disabled = !positive;
      logBox.parentNode.title = positive ? "" : "a log scale needs every value above 0";
      if (!positive) logBox.checked = false;
      var yaxis = Object.assign({}, figure.layout.yaxis, {
        type: logBox.checked ? "log" : "linear", autorange: true,
      });
      plot($("chart-objective"), { data: data, layout: Object.assign({}, figure.layout, { yaxis: yaxis }) });
    }
    $("objective-hide-stopped").addEventListener("change", drawObjective);
    $("objective-log").addEventListener("change", drawObjective);

    function loadObjective() {
      return getJSON(base + "/charts/objective").then(function (data) {
        objectiveFigure = data.Figure;
        drawObjective();
        setText("sample-objective", sampleText(data.Sample, "Training jobs with an objective value"));
      }).catch(showError);
    }

    // Parallel coordinates: SVG lines by default (quick everywhere); on request plotly's
    // WebGL parcoords, whose axes filter when dragged but which take a second or more to
    // start where the browser has no GPU. The choice is kept across refreshes.
    var parallel = { figures: null, interactive: false };
    function drawParallel() {
      if (parallel.figures === null) return;
      var figure = parallel.interactive ? parallel.figures.ParallelInteractive : parallel.figures.Parallel;
      var node = $("chart-parallel");
      if (node.dataset.mode !== (parallel.interactive ? "interactive" : "lines") && node.data) {
        window.Plotly.purge(node);
      }
      node.dataset.mode = parallel.interactive ? "interactive" : "lines";
      plot(node, figure || null);
      var button = $("parallel-mode");
      button.hidden = !parallel.figures.Parallel;
      button.textContent = parallel.interactive
        ? "Static lines (quick)"
        : "Interactive: drag an axis to filter (WebGL, slow without a GPU)";
    }
    $("parallel-mode").addEventListener("click", function () {
      parallel.interactive = !parallel.interactive;
      drawParallel();
    });

    function loadParameters() {
      return getJSON(base + "/charts/parameters").then(function (data) {
        chartsWithReadings = data.WithReadings;
        plotMany($("charts-parameters"), data.Figures, function (f) { return f.Parameter; }, "chart-param", "chart");
        parallel.figures = data;
        drawParallel();
        setText("sample-parameters", sampleText(data.Sample, "Training jobs in these charts"));
        setText("sample-parallel", sampleText(data.ParallelSample, "Training jobs drawn"));
      }).catch(showError);
    }

    // Plotly reads titles as HTML-like text: escape what it would interpret.
    function plotlyText(s) {
      return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
        .replace(/"/g, "&#34;").replace(/'/g, "&#39;");
    }

    function titleParameters(readings) {
      Array.prototype.forEach.call($("charts-parameters").children, function (node) {
        var name = node.dataset.key;
        if (node.data && readings[name]) {
          window.Plotly.relayout(node, { "title.text": plotlyText(name + ": " + readings[name]) });
        }
      });
      chartsWithReadings = true;
    }

    function loadCurves() {
      return getJSON(base + "/charts/curves").then(function (data) {
        var container = $("charts-curves");
        if (!data.Figures.length) {
          clear(container);
          container.appendChild(el("p", "No metrics reported yet.", "dim"));
        } else {
          Array.prototype.slice.call(container.querySelectorAll("p")).forEach(function (p) { container.removeChild(p); });
          plotMany(container, data.Figures, function (f) { return f.Metric; }, "chart-curve", "chart wide");
        }
        setText("sample-curves", sampleText(data.Sample, "Learning curves"));
      }).catch(showError);
    }

    var analysisTimer = null;
    function loadAnalysis() {
      if (analysisTimer) { clearTimeout(analysisTimer); analysisTimer = null; }
      return getJSON(base + "/analysis").then(function (data) {
        if (!data.Ready) {
          analysisTimer = setTimeout(loadAnalysis, 1000);
          return;
        }
        renderAnalysis(data);
        if (!chartsWithReadings && data.Readings) titleParameters(data.Readings);
        if (data.Stale) analysisTimer = setTimeout(loadAnalysis, 3000);
      }).catch(showError);
    }

    function renderAnalysis(data) {
      var tbody = $("analysis-table").querySelector("tbody");
      clear(tbody);
      if (data.Error) {
        setText("analysis-summary", "The analysis failed: " + data.Error);
        return;
      }
      data.Rows.forEach(function (r) {
        var row = el("tr");
        [r.Parameter, r.Scale, r.NTrials, r.Effect, r.PValue, r.Importance, r.Strength, r.Reading]
          .forEach(function (v) { row.appendChild(el("td", v)); });
        tbody.appendChild(row);
      });
      setText("analysis-summary", "Reading: " + data.Summary);
      var notes = $("analysis-notes");
      clear(notes);
      data.Notes.forEach(function (n) { notes.appendChild(el("p", "Note: " + n, "note")); });
      if (data.Importance && data.Importance.Description) {
        notes.appendChild(el("p", "Importance: " + data.Importance.Description + "; " +
          data.Importance.NTrials + " trials, seed " + data.Importance.Seed + ".", "dim"));
      }
      plot($("chart-importance"), data.ImportanceFigure);
      setText("sample-analysis", sampleText(data.Sample, "Training jobs analysed"));
    }

    function loadCharts() {
      lastCharts = Date.now();
      return Promise.all([loadObjective(), loadParameters(), loadCurves()]);
    }

    // Live updates: the summary every POLL_MS; the table when the counters move; the charts
    // when they moved or trials run, at most every few seconds (a big job's charts cost more).
    function poll() {
      getJSON(base).then(function (job) {
        renderSummary(job);
        var counts = JSON.stringify([job.TrainingJobStatusCounters, job.ObjectiveStatusCounters]);
        var changed = counts !== lastCounts;
        lastCounts = counts;
        if (changed) loadTrials();
        var ended = !job.IsLive;
        var every = job.TrainingJobs < 1000 ? SMALL_JOB_CHART_REFRESH_MS : CHART_REFRESH_MS;
        var due = Date.now() - lastCharts >= every;
        if (ended || (due && (changed || job.TrainingJobStatusCounters.InProgress))) {
          loadCharts();
          if (changed || ended) loadAnalysis();
        }
        live = job.IsLive;
        if (live) setTimeout(poll, POLL_MS);
      }).catch(function (e) {
        showError(e);
        if (live) setTimeout(poll, POLL_MS * 2);
      });
    }

    loadTrials();
    loadCharts();
    loadAnalysis();
    markLive(live);
    if (live) setTimeout(poll, POLL_MS);
  }

  // -- one training job -------------------------------------------------------------------------
  function initTrial() {
    var url = "/api/jobs/" + encodeURIComponent(body.dataset.job) + "/trials/" + body.dataset.number;

    function render(t) {
      var badge = $("trial-status");
      badge.textContent = t.TrainingJobStatus;
      badge.className = "status status-" + t.TrainingJobStatus;
      setText("trial-value", fmtValue(t.FinalObjectiveValue));
      setText("trial-epochs", t.EpochsReported);
      setText("trial-started", t.TrainingStartTime || "-");
      setText("trial-ended", t.TrainingEndTime || "-");
      setText("trial-duration", fmtDuration(t.DurationSeconds));
      // A stop is not a failure: the neutral note replaces the red box (see stops.py).
      var stop = t.StopNote;
      $("trial-stop").hidden = !stop;
      setText("stop-text", stop ? stop.Text : "");
      setText("stop-reason", stop ? stop.Reason : "");
      setText("failure-reason", stop ? "" : t.FailureReason || "");
      $("trial-failure").hidden = Boolean(stop) || !t.FailureReason;
      var tableNode = $("metrics-table");
      var head = tableNode.querySelector("thead tr");
      clear(head);
      head.appendChild(el("th", "Epoch"));
      t.MetricNames.forEach(function (n) { head.appendChild(el("th", n)); });
      var tbody = tableNode.querySelector("tbody");
      clear(tbody);
      t.Metrics.forEach(function (row) {
        var tr = el("tr");
        tr.appendChild(el("td", row.Epoch));
        t.MetricNames.forEach(function (n) { tr.appendChild(el("td", fmtValue(row.Values[n]), "num")); });
        tbody.appendChild(tr);
      });
      setText("metrics-info", t.EpochsShown < t.EpochsTotal ?
        t.EpochsShown + " of " + t.EpochsTotal + " epochs shown, evenly spaced" : "");
      renderLog(t.Log, t.IsLive);
      plot($("chart-trial"), t.Figure);
      markLive(t.IsLive);
      return t.IsLive;
    }

    // The log's tail, or a note saying why there is none (never an empty box).
    function renderLog(log, live) {
      var info;
      if (log.Found && log.Lines.length) info = (log.Truncated ? "last lines of " : "") + log.Path;
      else if (log.Found) info = log.Path + " is empty: no log lines were written" + (live ? " yet." : ".");
      else info = log.Path ? "no log at " + log.Path : "no log recorded";
      setText("log-info", info);
      $("log").textContent = log.Lines.join("\n") + (log.Lines.length ? "\n" : "");
      $("log").hidden = !log.Lines.length;
    }

    function load() {
      getJSON(url).then(function (t) {
        if (render(t)) setTimeout(load, POLL_MS);
      }).catch(function (e) {
        showError(e);
        setTimeout(load, POLL_MS * 2);
      });
    }
    load();
  }

  function showError(error) {
    var node = $("dashboard-error");
    if (!node) {
      node = el("p", null, "error banner");
      node.id = "dashboard-error";
      document.querySelector("main").prepend(node);
    }
    node.textContent = "Could not update: " + (error && error.message ? error.message : error);
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { if (node.parentNode) node.parentNode.removeChild(node); }, 10000);
  }

  var page = body.dataset.page;
  if (page === "jobs") initJobs();
  else if (page === "job") initJob();
  else if (page === "trial") initTrial();
})();
