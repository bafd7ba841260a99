/* Lakefront dashboards: draws each visual of the page from the web tier's data proxy.
 *
 * No build step and no framework: the page carries the dashboard's definition as JSON
 * (#dashboard-config), this script fetches each visual's rows with the filters in the URL,
 * and draws KPI cards and tables as HTML, line/bar/heatmap charts with the vendored ECharts.
 * The filter state lives in the URL (from, to, category), so a link reproduces the view.
 * body[data-rendered="1"] says every visual has drawn (or shown its error); data-render-count
 * grows by one at each complete redraw; data-rendered-at is when (ms since navigation start).
 * Tests and bench/dashboard_render_bench.py wait on them.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("dashboard-config");
  if (!configNode) return;
  var config = JSON.parse(configNode.textContent);
  var body = document.body;
  var form = document.getElementById("dash-filters");
  var statusLine = document.getElementById("dash-status");
  var PARAMS = ["from", "to", "category"];
  // site.css has the same colours as .swatch-0 to .swatch-7 (the tooltips' swatches).
  var PALETTE = ["#0b6e99", "#e8833a", "#2aa5a0", "#8e5ea2", "#c0392b", "#1f8a4c", "#d4a017", "#5f6b7a"];
  var charts = {};
  var state = Object.assign({ from: "", to: "", category: "" }, config.state);
  var initial = config.initial || {};
  var generation = 0;
  var renderCount = 0;
  // This script runs before ECharts (deferred) has been compiled, so the data requests overlap with it;
  // drawing waits for DOMContentLoaded, by which time deferred scripts have run.
  var libraryReady = new Promise(function (resolve) {
    if (window.echarts || document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", function () { resolve(); });
  });

  // ---- formatting (the server's format_metric in web/routes/dashboards.py does the same) ----

  function groupDigits(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function money(cents) {
    var c = Math.round(Number(cents));
    var sign = c < 0 ? "-" : "";
    c = Math.abs(c);
    var part = c % 100;
    return sign + "$" + groupDigits((c - part) / 100) + "." + (part < 10 ? "0" : "") + part;
  }

  function plain(n, decimals) {
    var fixed = Number(n).toFixed(decimals);
    var bits = fixed.split(".");
    var sign = bits[0].charAt(0) === "-" ? "-" : "";
    var whole = groupDigits(bits[0].replace("-", ""));
    return sign + whole + (bits[1] ? "." + bits[1] : "");
  }

  function format(value, kind) {
    if (value === null || value === undefined || value === "") return "\u2014";
    if (kind === "text" || kind === "date" || typeof value === "string") return String(value);
    if (kind === "cents") return money(value);
    if (kind === "percent") return plain(value * 100, 1) + "%";
    if (kind === "days") return (Number.isInteger(value) ? plain(value, 0) : plain(value, 1)) + " days";
    return Number.isInteger(value) ? plain(value, 0) : plain(value, 2);
  }

  // Short labels for chart axes: $12.3k, 4.5M, 25%.
  function compact(value, kind) {
    if (kind === "percent") return Math.round(value * 100) + "%";
    var n = kind === "cents" ? value / 100 : value;
    var abs = Math.abs(n);
    var text = abs >= 1e6 ? (n / 1e6).toFixed(1) + "M" : abs >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n * 100) / 100);
    return (kind === "cents" ? "$" : "") + text;
  }

  function changeText(pct) {
    var arrow = pct > 0 ? "\u25b2" : pct < 0 ? "\u25bc" : "\u25b6";
    return arrow + " " + (pct >= 0 ? "+" : "-") + Math.abs(pct).toFixed(1) + "%";
  }

  function humanize(name) {
    var text = String(name).replace(/_cents$/, "").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function formatOf(visual, column, columnType) {
    var given = (visual.format || {})[column];
    if (given) return given;
    if (/_cents$/.test(column)) return "cents";
    if (columnType && /date/i.test(columnType)) return "date";
    if (columnType && /int|float|double|decimal|number/i.test(columnType)) return "count";
    return "text";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- filters and the URL ----

  function applicable(visual) {
    var params = new URLSearchParams();
    (visual.filters || []).forEach(function (filterId) {
      (config.filters[filterId] || []).forEach(function (name) {
        if (state[name]) params.set(name, state[name]);
      });
    });
    return params;
  }

  function dataUrl(visual, csv) {
    var query = applicable(visual).toString();
    return "/dashboards/" + config.id + "/data/" + visual.id + (csv ? ".csv" : "") + (query ? "?" + query : "");
  }

  function syncUrl() {
    var params = new URLSearchParams();
    PARAMS.forEach(function (name) { if (state[name]) params.set(name, state[name]); });
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }

  function syncForm() {
    if (!form) return;
    PARAMS.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field) field.value = state[name] || "";
    });
  }

  function readForm() {
    var next = Object.assign({}, state);
    PARAMS.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field) next[name] = field.value;
    });
    return next;
  }

  function setStatus(text, isError) {
    if (!statusLine) return;
    statusLine.textContent = text;
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function apply(next) {
    if (next.from && next.to && next.from > next.to) {
      setStatus("The start of the date range is after its end.", true);
      return;
    }
    state = next;
    syncUrl();
    syncForm();
    renderAll();
  }

  // ---- drawing ----

  function bodyOf(visual) {
    return document.querySelector('[data-visual="' + visual.id + '"] [data-body]');
  }

  function chartFor(visual, holder) {
    var node = holder.querySelector(".chart");
    if (!node) {
      disposeChart(visual);
      holder.replaceChildren();
      // The numbers behind a chart are in its CSV; the label at least names it for screen readers.
      node = el("div", { "class": "chart", "data-chart": visual.id, role: "img", "aria-label": visual.title });
      holder.appendChild(node);
    }
    var chart = charts[visual.id];
    if (!chart) {
      chart = charts[visual.id] = echarts.init(node, null, { renderer: "canvas" });
      chart.on("click", function (event) { drill(visual, event); });
    }
    return chart;
  }

  function disposeChart(visual) {
    if (charts[visual.id]) {
      charts[visual.id].dispose();
      delete charts[visual.id];
    }
  }

  function showMessage(visual, text, cls) {
    disposeChart(visual);
    var holder = bodyOf(visual);
    holder.replaceChildren(el("p", { "class": cls }, text));
  }

  function drawKpis(visual, data) {
    disposeChart(visual);
    var cards = el("div", { "class": "kpis" });
    data.rows.forEach(function (row) {
      var kind = row.format || "count";
      var card = el("div", { "class": "kpi", "data-metric": row.metric,
                             "data-value": row.value === null || row.value === undefined ? "" : String(row.value), "data-format": kind,
                             "data-previous": row.previous === null || row.previous === undefined ? "" : String(row.previous) });
      card.appendChild(el("p", { "class": "kpi-label" }, row.label));
      card.appendChild(el("p", { "class": "kpi-value" }, format(row.value, kind)));
      var pct = row.change_pct;
      if (pct === null || pct === undefined) {
        card.appendChild(el("p", { "class": "kpi-change flat", "data-change": "" }, "no earlier period to compare"));
      } else {
        var cls = pct > 0 ? "up" : pct < 0 ? "down" : "flat";
        card.appendChild(el("p", { "class": "kpi-change " + cls, "data-change": String(pct) },
                            changeText(pct) + " vs the previous period"));
      }
      cards.appendChild(card);
    });
    bodyOf(visual).replaceChildren(cards);
  }

  function drawTable(visual, data) {
    disposeChart(visual);
    var columns = data.columns && data.columns.length ? data.columns
      : Object.keys(data.rows[0] || {}).map(function (name) { return { name: name, type: "" }; });
    var table = el("table", { "class": "lines data-table", "data-table": visual.id });
    var head = el("tr");
    var kinds = columns.map(function (c) { return formatOf(visual, c.name, c.type); });
    columns.forEach(function (c, i) {
      var numeric = kinds[i] !== "text" && kinds[i] !== "date";
      head.appendChild(el("th", numeric ? { "class": "num", scope: "col" } : { scope: "col" }, humanize(c.name)));
    });
    table.appendChild(el("thead")).appendChild(head);
    var tbody = table.appendChild(el("tbody"));
    data.rows.forEach(function (row, index) {
      var tr = el("tr", { "data-row": String(index) });
      columns.forEach(function (c, i) {
        var value = row[c.name];
        var numeric = kinds[i] !== "text" && kinds[i] !== "date";
        var attrs = { "data-col": c.name, "data-value": value === null || value === undefined ? "" : String(value) };
        if (numeric) attrs["class"] = "num";
        if (kinds[i] === "date") attrs["class"] = "date";
        // Ids are labels, not quantities: no thousands separators.
        var shown = /(^|_)id$/.test(c.name) && value !== null && value !== undefined ? String(value)
          : format(value, kinds[i]);
        tr.appendChild(el("td", attrs, shown));
      });
      tbody.appendChild(tr);
    });
    var wrap = el("div", { "class": "table-wrap" });
    wrap.appendChild(table);
    bodyOf(visual).replaceChildren(wrap);
  }

  function ys(visual) {
    var y = (visual.encoding || {}).y;
    return Array.isArray(y) ? y : [y];
  }

  function uniqueSorted(values) {
    var seen = Array.from(new Set(values));
    var numeric = seen.every(function (v) { return typeof v === "number"; });
    return seen.sort(numeric ? function (a, b) { return a - b; } : undefined);
  }

  // Columns of different kinds (money, counts, rates) each get an axis; at most two are shown.
  function axesFor(visual, columns) {
    var kinds = [];
    var index = columns.map(function (col) {
      var kind = formatOf(visual, col);
      var at = kinds.indexOf(kind);
      if (at < 0) { kinds.push(kind); at = kinds.length - 1; }
      return Math.min(at, 1);
    });
    var axes = kinds.slice(0, 2).map(function (kind, i) {
      return { type: "value", position: i ? "right" : "left", splitLine: { show: i === 0 },
               axisLabel: { formatter: function (v) { return compact(v, kind); } } };
    });
    return { kinds: kinds, index: index, axes: axes };
  }

  function seriesFrom(visual, rows, kind) {
    var enc = visual.encoding || {};
    var xs = uniqueSorted(rows.map(function (r) { return r[enc.x]; }));
    var series = [];
    var columns = ys(visual);
    if (enc.series) {
      var names = uniqueSorted(rows.map(function (r) { return r[enc.series]; }));
      var col = columns[0];
      names.forEach(function (name) {
        var byX = {};
        rows.forEach(function (r) { if (r[enc.series] === name) byX[r[enc.x]] = r[col]; });
        // A missing (x, series) row of a count or an amount is zero (no orders of that status that day);
        // of a rate, it is unknown and left as a gap.
        var missing = formatOf(visual, col) === "percent" ? null : 0;
        series.push({ name: String(name), type: kind, yAxisIndex: 0, valueKind: formatOf(visual, col),
                      data: xs.map(function (x) { return x in byX ? byX[x] : missing; }) });
      });
      return { xs: xs, series: series, axes: axesFor(visual, [col]) };
    }
    var axes = axesFor(visual, columns);
    columns.forEach(function (col, i) {
      var byX = {};
      rows.forEach(function (r) { byX[r[enc.x]] = r[col]; });
      series.push({ name: humanize(col), type: kind, yAxisIndex: axes.index[i], valueKind: formatOf(visual, col),
                    data: xs.map(function (x) { return x in byX ? byX[x] : null; }) });
    });
    return { xs: xs, series: series, axes: axes };
  }

  function tooltipFor(built) {
    var kindOf = {};
    built.series.forEach(function (s) { kindOf[s.name] = s.valueKind; });
    return {
      trigger: "axis",
      axisPointer: { type: built.series[0] && built.series[0].type === "bar" ? "shadow" : "line" },
      formatter: function (items) {
        var list = Array.isArray(items) ? items : [items];
        var lines = [escapeHtml(list.length ? String(list[0].axisValueLabel || list[0].name) : "")];
        list.forEach(function (item) {
          lines.push(swatch(item.color) + escapeHtml(item.seriesName + ": " + format(item.value, kindOf[item.seriesName])));
        });
        return lines.join("<br>");
      },
    };
  }

  // The series' colour as a class: ECharts' own item.marker is a style attribute, which the
  // Content-Security-Policy (style-src 'self') refuses.
  function swatch(color) {
    var index = PALETTE.indexOf(color);
    return index < 0 ? "" : '<span class="swatch swatch-' + index + '"></span>';
  }

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function drawLine(visual, data) {
    var built = seriesFrom(visual, data.rows, "line");
    built.series.forEach(function (s) { s.showSymbol = built.xs.length <= 60; s.connectNulls = false; });
    chartFor(visual, bodyOf(visual)).setOption({
      animation: false,
      color: PALETTE,
      grid: { left: 64, right: built.axes.axes.length > 1 ? 64 : 24, top: 36, bottom: 36 },
      legend: { show: built.series.length > 1, top: 0 },
      tooltip: tooltipFor(built),
      xAxis: { type: "category", data: built.xs, boundaryGap: false },
      yAxis: built.axes.axes,
      series: built.series.map(strip),
    }, true);
  }

  function drawBar(visual, data) {
    var enc = visual.encoding || {};
    // Names read better along a vertical axis, in the API's (ranked) order; dates and numbers along
    // the horizontal one, sorted.
    var horizontal = !enc.series && formatOf(visual, enc.x, "") === "text";
    var built = horizontal ? seriesInRowOrder(visual, data.rows) : seriesFrom(visual, data.rows, "bar");
    var longest = built.xs.reduce(function (n, x) { return Math.max(n, String(x).length); }, 0);
    var labelWidth = Math.min(220, 16 + 6.5 * longest);
    var categoryAxis = { type: "category", data: built.xs.map(String), inverse: horizontal,
                         axisLabel: horizontal ? { width: labelWidth - 14, overflow: "truncate" } : {} };
    if (horizontal) {
      built.axes.axes[0].position = "bottom";
      built.axes.axes[0].splitNumber = 3;
    }
    var option = {
      animation: false,
      color: PALETTE,
      grid: { left: horizontal ? labelWidth : 64, right: 24, top: 36, bottom: horizontal ? 28 : 48 },
      legend: { show: built.series.length > 1, top: 0 },
      tooltip: tooltipFor(built),
      xAxis: horizontal ? built.axes.axes[0] : categoryAxis,
      yAxis: horizontal ? categoryAxis : built.axes.axes,
      series: built.series.map(function (s) {
        var out = strip(s);
        if (horizontal) { delete out.yAxisIndex; }
        if (visual.drill) out.cursor = "pointer";
        return out;
      }),
    };
    chartFor(visual, bodyOf(visual)).setOption(option, true);
  }

  function seriesInRowOrder(visual, rows) {
    var enc = visual.encoding || {};
    var columns = ys(visual);
    var axes = axesFor(visual, columns.slice(0, 1));
    return {
      xs: rows.map(function (r) { return r[enc.x]; }),
      axes: axes,
      series: columns.slice(0, 1).map(function (col) {
        return { name: humanize(col), type: "bar", valueKind: formatOf(visual, col),
                 data: rows.map(function (r) { return r[col]; }) };
      }),
    };
  }

  function strip(series) {
    var out = Object.assign({}, series);
    delete out.valueKind;
    return out;
  }

  function drawHeatmap(visual, data) {
    var enc = visual.encoding || {};
    var xs = uniqueSorted(data.rows.map(function (r) { return r[enc.x]; }));
    var yv = uniqueSorted(data.rows.map(function (r) { return r[ys(visual)[0]]; }));
    var valueCol = enc.value;
    var kind = formatOf(visual, valueCol);
    var cells = data.rows.map(function (r) {
      return [xs.indexOf(r[enc.x]), yv.indexOf(r[ys(visual)[0]]), r[valueCol]];
    });
    var values = cells.map(function (c) { return c[2]; }).filter(function (v) { return v !== null; });
    var max = values.length ? Math.max.apply(null, values) : 1;
    chartFor(visual, bodyOf(visual)).setOption({
      animation: false,
      grid: { left: 96, right: 96, top: 12, bottom: 44 },
      tooltip: {
        formatter: function (item) {
          return escapeHtml(humanize(ys(visual)[0]) + " " + yv[item.value[1]] + ", " + humanize(enc.x) + " " +
                            xs[item.value[0]] + ": " + format(item.value[2], kind));
        },
      },
      xAxis: { type: "category", data: xs.map(String), name: humanize(enc.x), nameLocation: "middle", nameGap: 24,
               splitArea: { show: true } },
      yAxis: { type: "category", data: yv.map(String), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: max || 1, calculable: true, orient: "vertical", right: 0, top: "middle",
                   itemHeight: 140, formatter: function (v) { return compact(v, kind); },
                   inRange: { color: ["#eef6fa", "#0b6e99"] } },
      series: [{ type: "heatmap", data: cells, label: { show: xs.length * yv.length <= 160,
                 formatter: function (item) { return compact(item.value[2], kind); }, fontSize: 10 } }],
    }, true);
  }

  var DRAW = { kpi: drawKpis, table: drawTable, line: drawLine, bar: drawBar, heatmap: drawHeatmap };

  function draw(visual, data) {
    var section = document.querySelector('[data-visual="' + visual.id + '"]');
    section.dataset.rows = String(data.rows.length);
    section.removeAttribute("data-error");
    if (!data.rows.length) {
      showMessage(visual, "No data for these filters.", "empty");
      return;
    }
    (DRAW[visual.type] || drawTable)(visual, data);
  }

  // ---- drill-down: a bar of a visual with `drill` sets that filter, and every visual follows ----

  function drill(visual, event) {
    if (!visual.drill || event.componentType !== "series") return;
    var x = (visual.encoding || {}).x;
    var row = (visual.lastRows || []).filter(function (r) { return String(r[x]) === event.name; })[0];
    if (!row) return;
    var value = row[visual.drill.field];
    var filter = visual.drill.filter;
    var next = Object.assign({}, state);
    if (filter === "category") {
      var match = (config.categories || []).filter(function (c) {
        return c.slug === value || c.name === value;
      })[0];
      if (!match) return;
      next.category = next.category === match.slug ? "" : match.slug;
    } else {
      next[filter] = value;
    }
    apply(next);
  }

  // ---- loading ----

  function updateAsOf(data) {
    var node = document.querySelector("[data-as-of]");
    if (!node || !data.as_of || node.dataset.asOf === data.as_of) return;
    var when = new Date(data.as_of);
    if (isNaN(when.getTime())) return;
    node.dataset.asOf = data.as_of;
    var text = when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    node.replaceChildren(document.createTextNode("Data as of "), el("time", { datetime: data.as_of }, text));
  }

  function fetchData(visual) {
    var url = dataUrl(visual, false);
    var first = initial[visual.id];
    if (first) {
      delete initial[visual.id];
      return Promise.resolve(first);
    }
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (response.redirected || type.indexOf("json") < 0) {
          throw new Error("Your session has ended: sign in again to see this.");
        }
        return response.json().then(function (payload) {
          if (!response.ok) {
            var fields = (payload.errors || []).map(function (e) { return e.field + ": " + e.message; });
            throw new Error((payload.detail || payload.title || "error " + response.status) +
                            (fields.length ? " (" + fields.join("; ") + ")" : ""));
          }
          return payload;
        });
      });
  }

  function load(visual, gen) {
    var link = document.querySelector('[data-visual="' + visual.id + '"] [data-csv]');
    if (link) link.setAttribute("href", dataUrl(visual, true));
    return Promise.all([fetchData(visual), libraryReady]).then(function (done) {
      var data = done[0];
      if (gen !== generation) return;
      visual.lastRows = data.rows;
      updateAsOf(data);
      draw(visual, data);
    }).catch(function (error) {
      if (gen !== generation) return;
      var section = document.querySelector('[data-visual="' + visual.id + '"]');
      section.dataset.error = "1";
      showMessage(visual, "Could not load this visual: " + error.message, "visual-error");
      throw error;
    });
  }

  function renderAll() {
    var gen = ++generation;
    body.dataset.rendered = "0";
    setStatus("Loading\u2026", false);
    var jobs = config.visuals.map(function (visual) { return load(visual, gen); });
    return Promise.allSettled(jobs).then(function (results) {
      if (gen !== generation) return;
      var failed = results.filter(function (r) { return r.status === "rejected"; }).length;
      setStatus(failed ? failed + " of " + results.length + " visuals could not be loaded." : "", failed > 0);
      renderCount += 1;
      body.dataset.renderCount = String(renderCount);
      // Milliseconds since the navigation started (performance.timeOrigin): what the benchmark reports.
      body.dataset.renderedAt = String(Math.round(performance.now()));
      body.dataset.rendered = "1";
    });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply(readForm());
    });
    form.addEventListener("change", function () { apply(readForm()); });
  }
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) { charts[id].resize(); });
  });
  syncUrl();
  renderAll();
})();
