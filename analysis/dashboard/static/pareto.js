// The live Pareto page: polls /pareto/data.json (analysis/dashboard/live.py) and draws each panel as SVG.
// Every drawn mark carries data-method (and data-run for runs) so a browser test can count what renders.
"use strict";
const NS = "http://www.w3.org/2000/svg";
const POLL_MS = 3000;
const SIZE = { w: 380, h: 320, left: 52, right: 12, top: 12, bottom: 44 };
let shownVersion = null;

function el(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// The same marker shapes as matplotlib's codes in analysis/style.py (radius r around cx, cy).
function polygon(cx, cy, r, n, turn, inner) {
  const pts = [];
  const k = inner ? 2 * n : n;
  for (let i = 0; i < k; i++) {
    const rad = inner && i % 2 ? r * inner : r;
    const a = turn + (2 * Math.PI * i) / k;
    pts.push([cx + rad * Math.sin(a), cy - rad * Math.cos(a)]);
  }
  return "M" + pts.map((p) => p[0].toFixed(2) + "," + p[1].toFixed(2)).join("L") + "Z";
}
function cross(cx, cy, r, turn) {
  const t = r * 0.38, arms = [];
  for (let i = 0; i < 4; i++) {
    const a = turn + (Math.PI / 2) * i;
    const c = Math.cos(a), s = Math.sin(a);
    arms.push([cx + r * s - t * c, cy - r * c - t * s], [cx + r * s + t * c, cy - r * c + t * s]);
    const b = a + Math.PI / 4, cb = Math.cos(b), sb = Math.sin(b);
    const d = t * Math.SQRT2;
    arms.push([cx + d * sb, cy - d * cb]);
  }
  return "M" + arms.map((p) => p[0].toFixed(2) + "," + p[1].toFixed(2)).join("L") + "Z";
}
function markerPath(code, cx, cy, r) {
  if (Array.isArray(code)) return polygon(cx, cy, r * 1.4, code[0], (code[2] * Math.PI) / 180, 0.4);  // (sides, 1, angle): a star
  switch (code) {
    case "s": return polygon(cx, cy, r * 1.2, 4, Math.PI / 4);
    case "^": return polygon(cx, cy, r * 1.25, 3, 0);
    case "v": return polygon(cx, cy, r * 1.25, 3, Math.PI);
    case ">": return polygon(cx, cy, r * 1.25, 3, Math.PI / 2);
    case "<": return polygon(cx, cy, r * 1.25, 3, -Math.PI / 2);
    case "D": return polygon(cx, cy, r * 1.25, 4, 0);
    case "d": return "M" + [[cx, cy - r * 1.3], [cx + r * 0.75, cy], [cx, cy + r * 1.3], [cx - r * 0.75, cy]].map((p) => p.join(",")).join("L") + "Z";
    case "p": return polygon(cx, cy, r * 1.15, 5, 0);
    case "h": return polygon(cx, cy, r * 1.15, 6, 0);
    case "*": return polygon(cx, cy, r * 1.4, 5, 0, 0.45);
    case "P": return cross(cx, cy, r * 1.2, 0);
    case "X": return cross(cx, cy, r * 1.2, Math.PI / 4);
    default: return `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
  }
}

function extent(panel, k) {
  let lo = Infinity, hi = -Infinity;
  for (const m of panel.methods) for (const r of m.runs) {
    const v = r.values[k];
    if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!isFinite(lo)) return [0, 1];
  const pad = Math.max((hi - lo) * 0.06, 0.01);
  return [lo - pad, hi + pad];
}

function ticks(lo, hi) {
  const raw = (hi - lo) / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * p).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(+t.toFixed(10));
  return out;
}

function drawPair(panel, pairIndex, parent) {
  const [i, j] = panel.pairs[pairIndex];
  const [x0, x1] = extent(panel, i), [y0, y1] = extent(panel, j);
  const W = SIZE.w - SIZE.left - SIZE.right, H = SIZE.h - SIZE.top - SIZE.bottom;
  const X = (v) => SIZE.left + ((v - x0) / (x1 - x0)) * W;
  const Y = (v) => SIZE.top + H - ((v - y0) / (y1 - y0)) * H;
  const svg = el("svg", { class: "front", width: SIZE.w, height: SIZE.h, "data-x": panel.axes[i], "data-y": panel.axes[j] }, parent);
  for (const t of ticks(x0, x1)) {
    el("line", { class: "grid", x1: X(t), x2: X(t), y1: SIZE.top, y2: SIZE.top + H }, svg);
    el("text", { x: X(t), y: SIZE.top + H + 14, "text-anchor": "middle" }, svg).textContent = t;
  }
  for (const t of ticks(y0, y1)) {
    el("line", { class: "grid", x1: SIZE.left, x2: SIZE.left + W, y1: Y(t), y2: Y(t) }, svg);
    el("text", { x: SIZE.left - 5, y: Y(t) + 4, "text-anchor": "end" }, svg).textContent = t;
  }
  el("rect", { class: "axis", x: SIZE.left, y: SIZE.top, width: W, height: H, fill: "none" }, svg);
  el("text", { x: SIZE.left + W / 2, y: SIZE.h - 8, "text-anchor": "middle" }, svg).textContent = panel.axes[i] + " \u2192";
  const yl = el("text", { x: 12, y: SIZE.top + H / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${SIZE.top + H / 2})` }, svg);
  yl.textContent = panel.axes[j] + " \u2192";
  const clip = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  for (const m of panel.methods) {  // runs (faint), then the front, then the sweep points on top
    for (const r of m.runs) {
      if (r.values[i] === null || r.values[j] === null) continue;
      const p = el("path", { class: "run", "data-method": m.name, "data-run": r.run, d: markerPath(m.marker, X(r.values[i]), Y(r.values[j]), 3.2),
                             fill: m.color, "fill-opacity": 0.35, stroke: "none" }, svg);
      el("title", {}, p).textContent = `${r.run}\n${m.label}, weights ${r.weights}, seed ${r.seed}\n${panel.axes[i]} ${r.values[i].toFixed(3)}, ${panel.axes[j]} ${r.values[j].toFixed(3)}`;
      if (r.nondominated) el("circle", { class: "nondominated", cx: X(r.values[i]), cy: Y(r.values[j]), r: 7.5, fill: "none", stroke: "#000", "stroke-width": 0.9 }, svg);
    }
  }
  for (const m of panel.methods) {
    const st = m.fronts[pairIndex].filter((p) => p[0] !== null && p[1] !== null);
    if (st.length) {
      const d = st.map((p, k) => (k ? "L" : "M") + clip(X(p[0]), SIZE.left, SIZE.left + W).toFixed(2) + "," + clip(Y(p[1]), SIZE.top, SIZE.top + H).toFixed(2)).join("");
      el("path", { class: "front-line", "data-method": m.name, d, fill: "none", stroke: m.color, "stroke-width": 1.8 }, svg);
    }
  }
  for (const m of panel.methods) {
    for (const pt of m.points) {
      const p = el("path", { class: "point", "data-method": m.name, d: markerPath(m.marker, X(pt.values[i]), Y(pt.values[j]), 5.5),
                             fill: m.color, stroke: "#fff", "stroke-width": 0.8 }, svg);
      el("title", {}, p).textContent = `${m.label}, weights ${pt.weights}: mean of ${pt.n_seeds} seed(s)\n${panel.axes[i]} ${pt.values[i].toFixed(3)}, ${panel.axes[j]} ${pt.values[j].toFixed(3)}`;
    }
  }
}

function legend(panel, parent) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const m of panel.methods) {
    const entry = document.createElement("span");
    entry.className = "entry";
    entry.dataset.method = m.name;
    const svg = el("svg", { width: 16, height: 16 }, entry);
    el("path", { d: markerPath(m.marker, 8, 8, 5.5), fill: m.color }, svg);
    entry.appendChild(document.createTextNode(`${m.label} (${m.runs.length} run${m.runs.length === 1 ? "" : "s"})`));
    box.appendChild(entry);
  }
  parent.appendChild(box);
}

function drawPanels(data) {
  const main = document.getElementById("panels");
  main.replaceChildren();
  if (data.error) {
    const p = document.createElement("p");
    p.className = "waiting";
    p.textContent = `No front yet: ${data.error}. The page redraws when a run finishes.`;
    main.appendChild(p);
  }
  for (const panel of data.panels) {
    const sec = document.createElement("section");
    sec.className = "panel";
    sec.dataset.panel = panel.label;
    const h = document.createElement("h2");
    h.textContent = panel.label;
    sec.appendChild(h);
    if (panel.error) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = panel.error;
      sec.appendChild(p);
    } else {
      legend(panel, sec);
      const plots = document.createElement("div");
      plots.className = "plots";
      panel.pairs.forEach((_, k) => drawPair(panel, k, plots));
      sec.appendChild(plots);
      if (panel.left_out.length) {
        const p = document.createElement("p");
        p.textContent = `Left out for a missing (NaN) eval value: ${panel.left_out.join(", ")}`;
        sec.appendChild(p);
      }
    }
    main.appendChild(sec);
  }
}

function drawRuns(data) {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  const counts = {};
  for (const r of data.runs) {
    counts[r.status] = (counts[r.status] || 0) + 1;
    const tr = document.createElement("tr");
    tr.dataset.run = r.run;
    const step = r.step === null ? "" : r.steps ? `${r.step} / ${r.steps}` : String(r.step);
    for (const [text, cls] of [[r.run, ""], [r.status, "status-" + r.status], [step, ""]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const summary = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ");
  document.getElementById("status").textContent =
    `${data.root}: ${data.runs.length} run director${data.runs.length === 1 ? "y" : "ies"}${summary ? " (" + summary + ")" : ""}; updated ${new Date(data.time * 1000).toLocaleTimeString()}`;
  const skipped = document.getElementById("skipped");
  skipped.replaceChildren();
  if (data.skipped.length) {
    const p = document.createElement("p");
    p.textContent = "Not in the fronts: " + data.skipped.map(([run, why]) => `${run} (${why})`).join("; ");
    skipped.appendChild(p);
  }
}

async function poll() {
  try {
    const response = await fetch("/pareto/data.json", { cache: "no-store" });
    const data = await response.json();
    if (data.version !== shownVersion) {
      drawPanels(data);
      shownVersion = data.version;
      document.body.dataset.version = data.version;
    }
    drawRuns(data);
  } catch (err) {
    document.getElementById("status").textContent = `cannot reach the dashboard server (${err}); retrying`;
  }
}

poll();
setInterval(poll, POLL_MS);
