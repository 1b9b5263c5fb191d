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

// Series is a rolling time series drawn as a line chart on a canvas.
class Series {
  constructor(canvas, label, unit, max = 120) {
    this.canvas = canvas; this.label = label; this.unit = unit; this.max = max; this.lines = new Map();
  }
  push(name, value) {
    if (!this.lines.has(name)) this.lines.set(name, []);
    const pts = this.lines.get(name);
    pts.push(Number.isFinite(value) ? value : null);
    while (pts.length > this.max) pts.shift();
  }
  draw() {
    const c = this.canvas, ctx = c.getContext("2d");
    const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = c.clientHeight * devicePixelRatio;
    ctx.clearRect(0, 0, w, h);
    let top = 0;
    for (const pts of this.lines.values()) for (const v of pts) if (v !== null) top = Math.max(top, v);
    top = top > 0 ? top * 1.1 : 1;
    const colors = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];
    let i = 0;
    ctx.font = `${11 * devicePixelRatio}px system-ui`;
    for (const [name, pts] of this.lines) {
      ctx.strokeStyle = ctx.fillStyle = colors[i % colors.length];
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath();
      let started = false;
      pts.forEach((v, j) => {
        if (v === null) { started = false; return; }
        const x = (j / (this.max - 1)) * w, y = h - (v / top) * (h - 14 * devicePixelRatio) - 2;
        if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        started = true;
      });
      ctx.stroke();
      const last = pts.filter((v) => v !== null).pop();
      ctx.fillText(`${name}: ${last === undefined ? "–" : fmtNum(last, 2)} ${this.unit}`, 6 + i * 170 * devicePixelRatio, 12 * devicePixelRatio);
      i++;
    }
  }
}
