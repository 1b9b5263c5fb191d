"use strict";
// Helpers the pages share.

const $ = (id) => document.getElementById(id);

function fmtBytes(n) {
  n = Number(n) || 0;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
}

function fmtNum(n, digits = 1) {
  n = Number(n) || 0;
  return n.toFixed(digits);
}

// el builds an element: el("td", {class: "x"}, "text", child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

// Series is a time series chart on a canvas: x is wall-clock time over the
// last `window` ms, y has a labelled axis scaled to the 95th percentile of
// what is shown (one first-token spike does not flatten the rest; points
// above the top are drawn at the top), and markers are vertical lines at
// given times (failovers).
class Series {
  constructor(canvas, label, unit, windowMs = 180000) {
    this.canvas = canvas; this.label = label; this.unit = unit; this.window = windowMs;
    this.lines = new Map(); this.markers = [];
  }
  // push adds a value at time t (ms since the epoch; default now); null or
  // a non-finite value is a gap.
  push(name, value, t = Date.now()) {
    if (!this.lines.has(name)) this.lines.set(name, []);
    const pts = this.lines.get(name);
    pts.push({ t, v: Number.isFinite(value) ? value : null });
    while (pts.length && pts[0].t < t - this.window) pts.shift();
  }
  // mark places a labelled vertical line at time t (ms since the epoch).
  mark(t, label) {
    if (!this.markers.some((m) => m.t === t)) this.markers.push({ t, label });
    this.markers = this.markers.filter((m) => m.t >= Date.now() - this.window);
  }
  last(name) {
    const pts = this.lines.get(name) || [];
    for (let i = pts.length - 1; i >= 0; i--) if (pts[i].v !== null) return pts[i].v;
    return undefined;
  }
  top() {
    const vals = [];
    for (const pts of this.lines.values()) for (const p of pts) if (p.v !== null) vals.push(p.v);
    if (!vals.length) return 1;
    vals.sort((a, b) => a - b);
    const p95 = vals[Math.min(vals.length - 1, Math.floor(vals.length * 0.95))];
    const want = Math.max(p95 * 1.15, vals[vals.length - 1] <= p95 * 1.5 ? vals[vals.length - 1] * 1.05 : 0, 1e-9);
    return 4 * niceCeil(want / 4); // four ticks of a round step
  }
  draw() {
    const c = this.canvas, ctx = c.getContext("2d"), d = devicePixelRatio;
    const w = c.width = c.clientWidth * d, h = c.height = c.clientHeight * d;
    const left = 46 * d, right = 8 * d, topPad = 18 * d, bottom = 18 * d;
    const pw = w - left - right, ph = h - topPad - bottom, now = Date.now(), t0 = now - this.window;
    const top = this.top();
    const xOf = (t) => left + ((t - t0) / this.window) * pw, yOf = (v) => topPad + ph - (Math.min(v, top) / top) * ph;
    ctx.clearRect(0, 0, w, h);
    ctx.font = `${10 * d}px system-ui`;
    ctx.strokeStyle = "#d8dee4"; ctx.fillStyle = "#5f6b76"; ctx.lineWidth = d;
    for (let i = 0; i <= 4; i++) { // y axis: 5 ticks with values and the unit
      const v = (top * i) / 4, y = yOf(v);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - right, y); ctx.stroke();
      ctx.fillText(fmtAxis(v), 2 * d, y + 3 * d);
    }
    ctx.fillText(this.unit, 2 * d, topPad - 6 * d);
    for (let s = 0; s <= this.window / 1000; s += 30) { // x axis: seconds ago
      const x = xOf(now - s * 1000);
      ctx.fillText(s === 0 ? "now" : `-${s}s`, x - 10 * d, h - 4 * d);
    }
    for (const m of this.markers) { // failover markers
      const x = xOf(m.t);
      if (x < left) continue;
      ctx.strokeStyle = ctx.fillStyle = "#cf222e";
      ctx.setLineDash([4 * d, 3 * d]);
      ctx.beginPath(); ctx.moveTo(x, topPad); ctx.lineTo(x, topPad + ph); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(m.label, x + 3 * d, topPad + 10 * d);
    }
    const colors = ["#0969da", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#57606a"];
    let i = 0, legend = left;
    for (const [name, pts] of this.lines) {
      ctx.strokeStyle = ctx.fillStyle = colors[i % colors.length];
      ctx.lineWidth = 1.5 * d;
      ctx.beginPath();
      let started = false;
      for (const p of pts) {
        if (p.v === null) { started = false; continue; }
        const x = xOf(p.t), y = yOf(p.v);
        if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        started = true;
      }
      ctx.stroke();
      const last = this.last(name);
      const text = `${name}: ${last === undefined ? "–" : fmtNum(last, 2)} ${this.unit}`;
      ctx.fillText(text, legend, 11 * d);
      legend += ctx.measureText(text).width + 14 * d;
      i++;
    }
  }
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtAxis(v) {
  if (v === 0) return "0";
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k";
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2);
}
