"""The report page's style sheet and its one small script, inlined so report.html is a single
file that works offline.

The script only adds hover: a vertical crosshair and every series' value at the pointer, read
from the JSON each chart embeds (see :func:`harness.report.charts.render_chart`). Without it
the charts still draw, and each line names itself in a ``<title>``.
"""

from __future__ import annotations

__all__ = ["HOVER_SCRIPT", "STYLE"]

STYLE = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--pass:#1a7f37;--fail:#cf222e;
--invalid:#9a6700}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;
color:var(--ink);margin:0 auto;padding:1.5em 2em 4em;max-width:1180px}
h1{font-size:1.7em;margin:.2em 0}h2{font-size:1.3em;margin:1.6em 0 .5em;
border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:.2em 0}
.PASS,.FAIL,.INVALID{font-weight:700;padding:0 .35em;border-radius:4px}
.PASS{color:var(--pass)}.FAIL{color:var(--fail)}.INVALID{color:var(--invalid)}
.sub{color:var(--muted);margin:.2em 0 1em}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
td,th{border:1px solid var(--line);padding:2px 8px;text-align:right}
th{background:#f6f8fa}td:first-child,th:first-child,table.text td,table.text th{text-align:left}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(265px,1fr));gap:.7em}
.card{border:1px solid var(--line);border-left:6px solid var(--pass);border-radius:6px;
padding:.5em .8em}
.card.failed{border-left-color:var(--fail)}
.card h3{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em}
.card dl{display:grid;grid-template-columns:max-content 1fr;gap:0 .8em;margin:.3em 0}
.card dd{overflow-wrap:anywhere}.card .phase{margin:.1em 0;color:var(--muted)}
.card dd.PASS,.card dd.FAIL{padding:0}
.card .phase b{color:var(--ink);font-weight:600;overflow-wrap:anywhere}
.card dt,.facts dt{color:var(--muted)}.card dd,.facts dd{margin:0}
.card .note{color:var(--muted);font-size:.9em;margin:.2em 0 0}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1.2em}
figure.chart{margin:1.2em 0 2em;break-inside:avoid}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:.2em 1.2em;padding:0;margin:.3em 0;
font-size:.9em}
.key{display:inline-block;width:22px;height:0;border-top:3px solid var(--c);
vertical-align:middle;margin-right:.4em;print-color-adjust:exact;-webkit-print-color-adjust:exact}
.key.dashed{border-top-style:dashed}.key.rule{border-top:2px dashed var(--c)}
.key.area{height:12px;border:0;background:var(--c)}
.key.band{height:12px;border:1px solid #888;background:#e4e4e4}
.frame{position:relative}
.frame svg{width:100%;height:auto;display:block;font-size:12px;overflow:visible}
svg .plot{fill:#fff;stroke:#bbb}
svg .axis line{stroke:#555}svg .axis line.grid{stroke:#e6e6e6}
svg .axis text{fill:#333}svg .axis-title{fill:var(--ink);font-weight:600}
svg .band rect{fill:#9a9a9a;fill-opacity:.22;stroke:#888;stroke-dasharray:3 3}
svg .band text{fill:#444;font-size:11px}
svg .line{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .area{stroke:#fff;stroke-width:.4;fill-opacity:.9}
svg .rule line{stroke-width:1.5;stroke-dasharray:7 4}
svg .rule text,svg .band text{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .crosshair{stroke:#222;stroke-width:1;visibility:hidden;pointer-events:none}
.tip{position:absolute;top:0;background:#fff;border:1px solid #888;border-radius:4px;
padding:4px 8px;font-size:12px;pointer-events:none;box-shadow:0 1px 4px rgba(0,0,0,.2);
white-space:nowrap}
.tip b{display:block}.tip i{display:inline-block;width:10px;height:10px;margin-right:5px;
background:var(--c)}
.note{color:var(--muted);font-size:.9em}
details{margin:1em 0}summary{cursor:pointer}summary h2{display:inline;border:0}
@media print{.tip,svg .crosshair{display:none}body{padding:0}}
"""

HOVER_SCRIPT = """
(function () {
  "use strict";
  function show(v) {
    if (v === null || v === undefined) return "-";
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : String(+v.toFixed(a >= 10 ? 1 : 3));
  }
  function pick(xs, ys, x, step) {
    var lo = 0, hi = xs.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (xs[mid] <= x) lo = mid; else hi = mid - 1;
    }
    if (step) return xs[lo] <= x ? ys[lo] : null;
    var best = lo;
    if (lo + 1 < xs.length && Math.abs(xs[lo + 1] - x) < Math.abs(xs[lo] - x)) best = lo + 1;
    return Math.abs(xs[best] - x) <= 0.5 ? ys[best] : null;
  }
  function nearest(names, x) {
    var best = names[0];
    names.forEach(function (n) { if (Math.abs(n[0] - x) < Math.abs(best[0] - x)) best = n; });
    return best;
  }
  function attach(fig) {
    var spec = JSON.parse(fig.querySelector("script.chart-data").textContent);
    var frame = fig.querySelector(".frame"), svg = frame.querySelector("svg");
    var plot = svg.querySelector("rect.plot"), cross = svg.querySelector("line.crosshair");
    var tip = frame.querySelector(".tip");
    function hide() { tip.hidden = true; cross.style.visibility = "hidden"; }
    function move(ev) {
      var r = plot.getBoundingClientRect(), f = (ev.clientX - r.left) / r.width;
      if (!(f >= 0 && f <= 1)) { hide(); return; }
      var x = spec.x0 + f * (spec.x1 - spec.x0), head;
      if (spec.names) {
        var n = nearest(spec.names, x);
        x = n[0]; head = n[1];
        f = (x - spec.x0) / (spec.x1 - spec.x0);
      } else {
        head = "t = " + Math.floor(x) + " s";
      }
      var at = spec.left + f * spec.width;
      cross.setAttribute("x1", at); cross.setAttribute("x2", at);
      cross.style.visibility = "visible";
      tip.textContent = "";
      var b = document.createElement("b"); b.textContent = head; tip.appendChild(b);
      spec.series.forEach(function (s) {
        var y = pick(s.x || spec.x, s.y, x, s.s === 1);
        var row = document.createElement("div"), key = document.createElement("i");
        key.style.setProperty("--c", s.c); row.appendChild(key);
        row.appendChild(document.createTextNode(s.n + ": " + show(y) + " " + s.u));
        tip.appendChild(row);
      });
      tip.hidden = false;
      var box = frame.getBoundingClientRect(), left = ev.clientX - box.left + 14;
      if (left + tip.offsetWidth > box.width) left = ev.clientX - box.left - tip.offsetWidth - 14;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = Math.max(0, ev.clientY - box.top - tip.offsetHeight / 2) + "px";
    }
    svg.addEventListener("mousemove", move);
    svg.addEventListener("mouseleave", hide);
  }
  document.querySelectorAll("figure.chart").forEach(attach);
})();
"""
