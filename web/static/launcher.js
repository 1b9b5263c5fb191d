"use strict";
// The launcher opens worker tabs with the join token and watches them (same
// origin: it reads each tab's window.tabshardStatus).

const opened = [];
let wanted = 0; // tabs asked for; the blocked note goes once they are open
const params = new URLSearchParams(location.search);
$("token").value = params.get("token") || "";

function workerURL(i) {
  const q = new URLSearchParams({ token: $("token").value.trim(), name: `${$("prefix").value || "tab"}-${i}` });
  if ($("backend").value !== "auto") q.set("backend", $("backend").value);
  return `/worker?${q}`;
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const n = Math.max(1, Math.min(64, Number($("count").value) || 1));
  let blocked = 0;
  for (let i = 0; i < n; i++) {
    const name = `${$("prefix").value || "tab"}-${opened.length + 1}`;
    const w = window.open(workerURL(opened.length + 1), "_blank");
    if (!w) { blocked++; continue; }
    opened.push({ name, w });
  }
  wanted = opened.length + blocked;
  $("blocked").hidden = blocked === 0;
  $("blocked").textContent = `The browser blocked ${blocked} of ${n} tabs: allow pop-ups for this site and click again.`;
  render();
});

$("close").addEventListener("click", () => {
  for (const t of opened) t.w.close();
  opened.length = 0;
  render();
});

function render() {
  if (opened.filter((t) => !t.w.closed).length >= wanted) $("blocked").hidden = true;
  if (opened.length === 0) {
    $("tabs").replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "none yet")));
    return;
  }
  $("tabs").replaceChildren(...opened.map((t) => {
    let s = null;
    try { s = t.w.closed ? null : t.w.tabshardStatus; } catch { s = null; }
    if (!s) return el("tr", {}, el("td", {}, t.name), el("td", { colspan: 7, class: "muted" }, t.w.closed ? "closed" : "starting"));
    const loaded = s.stage_bytes ? `${Math.round(100 * s.loaded_bytes / s.stage_bytes)}%` : "–";
    return el("tr", {}, el("td", {}, t.name), el("td", {}, s.phase + (s.error ? ": " + s.error : "")), el("td", {}, s.worker_id || "–"),
      el("td", {}, s.stage >= 0 ? `${s.role} ${s.stage}` : s.role), el("td", {}, s.layers || "–"),
      el("td", {}, s.backend), el("td", {}, loaded), el("td", {}, fmtNum(s.tokens_per_second)));
  }));
}

setInterval(render, 1000);
