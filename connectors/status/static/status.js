// labelstream status page: renders /status.json (schema: connectors/status/__init__.py).
// No dependencies, no build step. History is kept by the server (status.history).
(function () {
  "use strict";
  var POLL_MS = 1000;
  var MAX_LEAF_LABELS = 40;   // labels shown per leaf cluster before "+N more"
  var MAX_TREE_NODES = 2000;  // clusters drawn at most (extreme label spaces)
  var COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f", "#d62728"];
  var SVG_NS = "http://www.w3.org/2000/svg";
  var token = new URLSearchParams(window.location.search).get("token");

  function byId(id) { return document.getElementById(id); }

  function fmt(value, digits) {
    if (value === null || value === undefined || (typeof value === "number" && !isFinite(value))) {
      return "-";
    }
    if (typeof value !== "number") { return String(value); }
    if (Number.isInteger(value)) { return String(value); }
    return value.toFixed(digits === undefined ? 1 : digits);
  }

  function setText(id, text, bad) {
    var el = byId(id);
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }

  function rows(status, family) {
    var labelled = status.labelled || {};
    return labelled[family] || [];
  }

  function sum(pairs) {
    var total = null;
    pairs.forEach(function (p) {
      if (typeof p[1] === "number") { total = (total || 0) + p[1]; }
    });
    return total;
  }

  function fillTable(id, data) {
    var body = byId(id).querySelector("tbody");
    body.textContent = "";
    data.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = typeof cell === "number" ? fmt(cell, 4) : (cell === null ? "-" : String(cell));
        if (typeof cell === "number") { td.className = "num"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function svgEl(name, attrs, text) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  // series: [{name, values: [[t, v], ...]}]; events: [{t, text}]
  function lineChart(svgId, legendId, series, events) {
    var svg = byId(svgId), legend = byId(legendId);
    var W = 800, H = 200, L = 50, R = 10, T = 10, B = 22;
    svg.textContent = "";
    legend.textContent = "";
    var ts = [], vs = [];
    series.forEach(function (s) {
      s.values.forEach(function (p) {
        if (p[1] !== null && p[1] !== undefined) { ts.push(p[0]); vs.push(p[1]); }
      });
    });
    if (!ts.length) {
      svg.appendChild(svgEl("text", {x: W / 2, y: H / 2, "text-anchor": "middle", "class": "empty"},
                            "no data yet"));
      return;
    }
    var t0 = Math.min.apply(null, ts), t1 = Math.max.apply(null, ts);
    if (t1 - t0 < 60) { t0 = t1 - 60; }  // at least the last minute
    var v0 = Math.min(0, Math.min.apply(null, vs)), v1 = Math.max.apply(null, vs);
    if (v1 <= v0) { v1 = v0 + 1; }
    function x(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
    function y(v) { return H - B - (v - v0) / (v1 - v0) * (H - T - B); }
    svg.appendChild(svgEl("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, "class": "axis"}));
    svg.appendChild(svgEl("line", {x1: L, y1: T, x2: L, y2: H - B, "class": "axis"}));
    svg.appendChild(svgEl("text", {x: L - 4, y: T + 10, "text-anchor": "end", "class": "tick"}, fmt(v1, 2)));
    svg.appendChild(svgEl("text", {x: L - 4, y: H - B, "text-anchor": "end", "class": "tick"}, fmt(v0, 2)));
    svg.appendChild(svgEl("text", {x: L, y: H - 6, "class": "tick"}, new Date(t0 * 1000).toISOString().slice(11, 19)));
    svg.appendChild(svgEl("text", {x: W - R, y: H - 6, "text-anchor": "end", "class": "tick"},
                          new Date(t1 * 1000).toISOString().slice(11, 19)));
    (events || []).forEach(function (e) {
      if (typeof e.t !== "number" || e.t < t0 || e.t > t1) { return; }
      var line = svgEl("line", {x1: x(e.t), y1: T, x2: x(e.t), y2: H - B, "class": "drift-marker"});
      line.appendChild(svgEl("title", {}, e.text));
      svg.appendChild(line);
    });
    series.forEach(function (s, i) {
      var colour = COLOURS[i % COLOURS.length];
      var pts = s.values.filter(function (p) { return p[1] !== null && p[1] !== undefined; })
        .map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); });
      if (pts.length === 1) {  // a single point: a dot
        var xy = pts[0].split(",");
        svg.appendChild(svgEl("circle", {cx: xy[0], cy: xy[1], r: 2.5, fill: colour, "class": "point"}));
      } else if (pts.length) {
        svg.appendChild(svgEl("polyline", {points: pts.join(" "), stroke: colour, "class": "series",
                                           "data-series": s.name}));
      }
      var item = document.createElement("span");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
  }

  function renderTree(container, tree) {
    container.textContent = "";
    if (!Array.isArray(tree) || !tree.length) {
      container.textContent = "no label clusters (not an iHOMER model, or nothing learned yet)";
      return;
    }
    var budget = {nodes: MAX_TREE_NODES};
    function node(items, depth) {
      var li = document.createElement("li");
      budget.nodes -= 1;
      if (items.length && !Array.isArray(items[0])) {  // a leaf: label names
        li.className = "leaf";
        items.slice(0, MAX_LEAF_LABELS).forEach(function (label) {
          var span = document.createElement("span");
          span.className = "cluster-label";
          span.textContent = String(label);
          li.appendChild(span);
        });
        if (items.length > MAX_LEAF_LABELS) {
          var more = document.createElement("span");
          more.className = "more";
          more.textContent = "+" + (items.length - MAX_LEAF_LABELS) + " more";
          li.appendChild(more);
        }
        return li;
      }
      li.appendChild(document.createTextNode("cluster of " + items.length + " (depth " + depth + ")"));
      var ul = document.createElement("ul");
      items.forEach(function (child) {
        if (budget.nodes > 0 && Array.isArray(child)) { ul.appendChild(node(child, depth + 1)); }
      });
      li.appendChild(ul);
      return li;
    }
    var root = document.createElement("ul");
    tree.forEach(function (child) {
      if (Array.isArray(child)) { root.appendChild(node(child, 1)); }
    });
    container.appendChild(root);
  }

  function eventText(e) {
    return [e.level, e.kind, e.detector, "position " + e.position,
            (e.labels || []).join(" ")].join(" ");
  }

  function render(status) {
    var counters = status.counters || {};
    if (status.title) { byId("title").textContent = status.title; document.title = status.title; }
    var lag = sum(rows(status, "consumer_lag"));
    var dead = rows(status, "dead_letters_total");
    var drift = rows(status, "drift_events_total");
    setText("records-per-second", fmt(counters.records_per_second, 1));
    setText("lag", fmt(lag));
    setText("records-total", fmt(counters.records_total));
    setText("dead-letters-total", fmt(sum(dead)), sum(dead) > 0);
    setText("drift-total", fmt(drift.length ? sum(drift) : (status.events || []).length));
    setText("checkpoint-age", fmt(counters.checkpoint_age_seconds, 1));
    setText("broker", counters.broker_connected === undefined ? "-" :
            (counters.broker_connected ? "connected" : "outage"), counters.broker_connected === 0);
    setText("up", counters.up === undefined ? "-" : (counters.up ? "running" : "stopped"), counters.up === 0);

    fillTable("dead-letters", dead.map(function (p) { return [p[0].reason, p[1]]; }));
    fillTable("partitions", rows(status, "consumer_lag").map(function (p) { return [String(p[0].partition), p[1]]; }));
    var metrics = {};
    rows(status, "prequential").forEach(function (p) {
      var key = p[0].model + "\u0000" + p[0].metric;
      metrics[key] = metrics[key] || [p[0].model, p[0].metric, null, null];
      metrics[key][p[0].scope === "window" ? 2 : 3] = p[1];
    });
    fillTable("metrics-table", Object.keys(metrics).sort().map(function (k) { return metrics[k]; }));

    var events = status.events || [];
    fillTable("events", events.slice().reverse().map(function (e) {
      var when = typeof e.timestamp === "number" ? new Date(e.timestamp * 1000).toISOString().replace("T", " ").slice(0, 19) : "-";
      return [when, e.level, e.kind, e.detector, e.position, (e.labels || []).join(", ")];
    }));
    var marks = events.map(function (e) { return {t: e.timestamp, text: eventText(e)}; });

    var history = status.history || [];
    lineChart("chart-throughput", "legend-throughput", [
      {name: "records/s", values: history.map(function (h) { return [h.t, h.records_per_second]; })},
      {name: "lag", values: history.map(function (h) { return [h.t, h.lag]; })}
    ], marks);
    var names = {};
    history.forEach(function (h) { Object.keys(h.metrics || {}).forEach(function (k) { names[k] = true; }); });
    lineChart("chart-metrics", "legend-metrics", Object.keys(names).sort().map(function (k) {
      return {name: k, values: history.map(function (h) { return [h.t, (h.metrics || {})[k]]; })};
    }), marks);

    renderTree(byId("clusters"), status.clusters);
    var served = typeof status.served_at === "number" ? new Date(status.served_at * 1000) : new Date();
    var conn = byId("connection");
    conn.textContent = "updated " + served.toISOString().slice(11, 19) + " UTC";
    conn.classList.remove("stale");
    document.body.setAttribute("data-rendered", String((Number(document.body.getAttribute("data-rendered")) || 0) + 1));
  }

  function showError(message) {
    var el = byId("error");
    el.hidden = false;
    el.textContent = message;
  }

  function safeRender(status) {
    try {
      render(status);
      byId("error").hidden = true;
    } catch (err) {
      showError("cannot show this status: " + err);
    }
  }

  function poll() {
    var headers = token ? {"Authorization": "Bearer " + token} : {};
    fetch("status.json", {headers: headers, cache: "no-store"})
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(safeRender)
      .catch(function (err) {
        var conn = byId("connection");
        conn.textContent = "no answer from the server (" + err.message + ")";
        conn.classList.add("stale");
      })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  var initial = byId("initial-status");
  var text = initial ? initial.textContent.trim() : "";
  if (text && text.indexOf("__LABELSTREAM") !== 0) {
    try { safeRender(JSON.parse(text)); } catch (err) { showError("bad embedded status: " + err); }
  }
  window.setTimeout(poll, POLL_MS);
})();
