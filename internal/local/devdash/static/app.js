// The local dashboard's script: polls the JSON endpoints under api/ every
// 2 s and renders the figures, the plots (uPlot), the recent checkouts and
// the selected checkout's trace. No build step, no dependencies but uPlot.
(function () {
  "use strict";

  var REFRESH_MS = 2000;
  var selected = null; // the checkout whose trace is shown
  var charts = {};

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function getJSON(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) {
          var e = body && body.error ? body.error : {};
          throw new Error((e.code || r.status) + ": " + (e.message || r.statusText));
        }
        return body;
      });
    });
  }

  function pct(rate) {
    if (!rate || rate.rate === null || rate.rate === undefined) return "n/a";
    return (rate.rate * 100).toFixed(1) + "%";
  }

  function rateClass(rate) {
    if (!rate || rate.rate === null) return "figure";
    return "figure " + (rate.rate >= 0.95 ? "good" : rate.rate >= 0.8 ? "warn" : "bad");
  }

  function ms(v) { return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(1) : Math.round(v)); }

  function money(amount, currency) {
    try {
      var f = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
      var digits = f.resolvedOptions().maximumFractionDigits;
      return f.format(amount / Math.pow(10, digits));
    } catch (e) {
      return String(amount);
    }
  }

  // ---- figures ----

  function renderMetrics(m) {
    var mins = Math.round(m.window_seconds / 60) + " min";
    $("order-success").textContent = pct(m.order_success);
    $("order-success").className = rateClass(m.order_success);
    $("order-success-sub").textContent = m.order_success.successes + " of " + m.order_success.outcomes +
      " ended in " + mins + " · all time " + pct(m.order_success_all) + " of " + m.order_success_all.outcomes;

    $("payment-success").textContent = pct(m.payment_success);
    $("payment-success").className = rateClass(m.payment_success);
    $("payment-success-sub").textContent = m.payment_success.successes + " of " + m.payment_success.outcomes +
      " charges in " + mins + " · all time " + pct(m.payment_success_all) + " of " + m.payment_success_all.outcomes;

    var a = m.api;
    $("latency").textContent = a.latency_count ? ms(a.p50_ms) + " / " + ms(a.p95_ms) + " / " + ms(a.p99_ms) : "n/a";
    $("latency-sub").textContent = "p50 / p95 / p99 of " + a.latency_count + " answers in " + mins + " (long polls excluded)";

    var codes = Object.keys(a.errors_by_code).sort();
    var nerr = codes.reduce(function (n, c) { return n + a.errors_by_code[c]; }, 0);
    $("errors").textContent = nerr;
    $("errors").className = "figure " + (a.server_errors > 0 ? "bad" : nerr > 0 ? "warn" : "good");
    $("errors-sub").textContent = (codes.length ? codes.map(function (c) { return c + ": " + a.errors_by_code[c]; }).join(" · ") : "none") +
      " of " + a.requests + " answers in " + mins;

    var open = m.breakers.filter(function (b) { return b.state !== "closed"; });
    if (!m.breakers.length) {
      $("breaker").textContent = "closed";
      $("breaker").className = "figure good";
      $("breaker-sub").textContent = "no breaker has tripped yet";
    } else {
      $("breaker").textContent = open.length ? open[0].state.replace("_", "-") : "closed";
      $("breaker").className = "figure " + (open.length ? (open[0].state === "open" ? "bad" : "warn") : "good");
      $("breaker-sub").textContent = m.breakers.map(function (b) {
        return b.name + ": " + b.state + " (" + b.consecutive_failures + " failures)";
      }).join(" · ");
    }

    if (m.inventory_discrepancy === null || m.inventory_discrepancy === undefined) {
      $("discrepancy").textContent = "0";
      $("discrepancy").className = "figure";
      $("discrepancy-sub").textContent = "n/a: no InventoryDiscrepancy recorded in " + mins;
    } else {
      $("discrepancy").textContent = m.inventory_discrepancy;
      $("discrepancy").className = "figure " + (m.inventory_discrepancy ? "bad" : "good");
      $("discrepancy-sub").textContent = "last InventoryDiscrepancy recorded";
    }

    $("throttled").textContent = m.execution_throttled;
    $("throttled").className = "figure " + (m.execution_throttled ? "warn" : "good");
    $("throttled-sub").textContent = "state transitions delayed by the StateTransition bucket (ExecutionThrottled) in " + mins;

    var qb = $("queues").tBodies[0];
    qb.textContent = "";
    m.queues.forEach(function (q) {
      var tr = el("tr");
      var name = el("td", {}, q.logical_id + (q.dlq ? " (DLQ)" : ""));
      name.title = q.name;
      tr.appendChild(name);
      var vis = el("td", { "class": "num" }, q.messages === null ? "?" : q.messages);
      if (q.dlq && q.messages > 0) vis.className = "num bad";
      if (q.error) vis.title = q.error;
      tr.appendChild(vis);
      tr.appendChild(el("td", { "class": "num" }, q.in_flight === null ? "?" : q.in_flight));
      qb.appendChild(tr);
    });

    renderCharts(m.series);
  }

  // ---- plots ----

  function chartWidth(id) { return Math.max(300, $(id).clientWidth || 500); }

  function makeChart(id, series, yLabel) {
    var opts = {
      width: chartWidth(id), height: 220,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1) * 1.1]; } } },
      axes: [{ space: 70, values: function (u, ticks) {
        return ticks.map(function (t) { return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); });
      } }, { label: yLabel, size: 50 }],
      series: [{}].concat(series),
      legend: { live: true },
    };
    var data = [[]].concat(series.map(function () { return []; }));
    return new uPlot(opts, data, $(id));
  }

  function renderCharts(s) {
    if (typeof uPlot === "undefined") return;
    if (!charts.rate) {
      charts.rate = makeChart("chart-rate", [
        { label: "created", stroke: "#2f6fde", width: 2 },
        { label: "completed", stroke: "#1a7f37", width: 2 },
        { label: "failed", stroke: "#cf222e", width: 2 },
      ], "per s");
      charts.latency = makeChart("chart-latency", [
        { label: "p50", stroke: "#1a7f37", width: 2, spanGaps: false, points: { show: true, size: 5 } },
        { label: "p95", stroke: "#b35900", width: 2, spanGaps: false, points: { show: true, size: 5 } },
        { label: "p99", stroke: "#cf222e", width: 2, spanGaps: false, points: { show: true, size: 5 } },
      ], "ms");
      window.addEventListener("resize", function () {
        charts.rate.setSize({ width: chartWidth("chart-rate"), height: 220 });
        charts.latency.setSize({ width: chartWidth("chart-latency"), height: 220 });
      });
    }
    charts.rate.setData([s.t, s.created_per_s, s.completed_per_s, s.failed_per_s]);
    charts.latency.setData([s.t, s.p50_ms, s.p95_ms, s.p99_ms]);
  }

  // ---- recent checkouts ----

  function renderCheckouts(list) {
    var tb = $("checkouts").tBodies[0];
    tb.textContent = "";
    $("checkouts-empty").hidden = list.length > 0;
    list.forEach(function (c) {
      var tr = el("tr", { "data-id": c.id });
      if (c.id === selected) tr.className = "selected";
      tr.appendChild(el("td", { "class": "mono" }, c.id));
      var st = el("td");
      var pill = el("span", { "class": "pill " + c.status }, c.status);
      if (c.failure_code) pill.title = c.failure_code;
      st.appendChild(pill);
      tr.appendChild(st);
      tr.appendChild(el("td", { "class": "num" }, money(c.amount, c.currency)));
      tr.appendChild(el("td", {}, c.currency));
      tr.appendChild(el("td", {}, new Date(c.created_at).toLocaleTimeString()));
      tb.appendChild(tr);
    });
  }

  $("checkouts").tBodies[0].addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr[data-id]");
    if (!tr) return;
    selected = tr.getAttribute("data-id");
    Array.prototype.forEach.call(this.rows, function (r) {
      r.className = r.getAttribute("data-id") === selected ? "selected" : "";
    });
    loadTrace();
  });

  // ---- trace timeline ----

  function renderTrace(tr) {
    var box = $("timeline");
    box.textContent = "";
    $("trace-title").textContent = tr.checkout_id;
    var empty = $("trace-empty");
    if (!tr.available) {
      empty.hidden = false;
      empty.textContent = "no trace: the devtrace.spans table does not exist (tracing not wired)";
      return;
    }
    if (!tr.spans.length) {
      empty.hidden = false;
      empty.textContent = "no spans recorded for this checkout";
      return;
    }
    empty.hidden = true;
    var total = Math.max(tr.duration_ms, 0.001);
    var axis = el("div", { "class": "axis" });
    axis.appendChild(el("div", {}, tr.spans.length + " spans · " + ms(tr.duration_ms) + " ms"));
    var ticks = el("div", { "class": "ticks" });
    for (var i = 0; i <= 4; i++) ticks.appendChild(el("span", {}, ms(total * i / 4) + " ms"));
    axis.appendChild(ticks);
    box.appendChild(axis);
    tr.spans.forEach(function (s) {
      var row = el("div", { "class": "span-row" });
      var label = el("div", { "class": "span-label" });
      label.style.paddingLeft = (s.depth * 14) + "px";
      label.appendChild(el("span", {}, s.name + " "));
      label.appendChild(el("span", { "class": "svc" }, s.service));
      label.title = s.service + " · " + s.name;
      row.appendChild(label);
      var track = el("div", { "class": "span-track" });
      var bar = el("div", { "class": "bar" + (s.status === "error" ? " error" : ""), "data-span": s.span_id });
      bar.style.left = (100 * s.offset_ms / total) + "%";
      bar.style.width = (100 * s.duration_ms / total) + "%";
      bar.title = s.name + " (" + s.service + ")\nstart +" + ms(s.offset_ms) + " ms, " + ms(s.duration_ms) + " ms" +
        (s.status === "error" ? "\nerror: " + s.status_message : "") +
        (s.attributes && Object.keys(s.attributes).length ? "\n" + JSON.stringify(s.attributes) : "");
      bar.appendChild(el("span", { "class": "dur" }, ms(s.duration_ms) + " ms"));
      track.appendChild(bar);
      row.appendChild(track);
      box.appendChild(row);
    });
  }

  function loadTrace() {
    if (!selected) return Promise.resolve();
    var id = selected;
    return getJSON("api/checkouts/" + encodeURIComponent(id) + "/trace").then(function (tr) {
      if (id === selected) renderTrace(tr);
    }, function (err) {
      $("trace-empty").hidden = false;
      $("trace-empty").textContent = "trace: " + err.message;
    });
  }

  // ---- refresh loop ----

  function refresh() {
    Promise.all([getJSON("api/metrics"), getJSON("api/checkouts?limit=50")]).then(function (got) {
      renderMetrics(got[0]);
      renderCheckouts(got[1].checkouts);
      $("refresh").className = "status";
      $("refresh").textContent = "updated " + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s";
      return loadTrace();
    }).catch(function (err) {
      $("refresh").className = "status down";
      $("refresh").textContent = "cannot refresh: " + err.message;
    }).then(function () {
      setTimeout(refresh, REFRESH_MS);
    });
  }

  refresh();
})();
