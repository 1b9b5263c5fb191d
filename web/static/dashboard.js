"use strict";
// The dashboard polls /api/state (members, plan, failovers, sessions) every
// second and /metrics every two. Rates come from counters over time
// (tokens/s is the tokens committed between two scrapes divided by the time
// between them, so a stall reads zero), latencies from histogram deltas.

const tpsChart = new Series($("tps"), "tokens/s", "tokens/s");
const latencyChart = new Series($("latency"), "latency", "ms");
let previous = null; // the last scrape: {t, tokens, hist}
const measuredMs = new Map(); // stage index (or "step") → last measured ms per step
// Tests read the state, the metrics and the charts' series.
window.tabshardDashboard = { state: null, metrics: null, charts: { tps: tpsChart, latency: latencyChart } };

const short = (s, n = 40) => (s && s.length > n ? s.slice(0, n - 1) + "…" : s || "");
const stateName = (s) => String(s || "").replace(/^[A-Z]+_STATE_/, "").toLowerCase();

// The admin key, when the user gave one, stays in this tab only
// (sessionStorage) and goes with each /api/state request: without it the
// state has no prompts or generated tokens.
$("admin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("tabshardAdminKey", $("admin-key").value.trim());
  $("admin-key").value = "";
  pollState();
});

async function pollState() {
  try {
    const key = sessionStorage.getItem("tabshardAdminKey");
    const headers = key ? { Authorization: `Bearer ${key}` } : {};
    const resp = await fetch("/api/state", { cache: "no-store", headers });
    if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).error?.message || resp.statusText);
    const st = await resp.json();
    window.tabshardDashboard.state = st;
    await pollLoads();
    document.body.classList.remove("stale");
    renderPlan(st);
    renderMembers(st);
    renderFailovers(st);
    renderSessions(st);
    health("ok", "ok");
  } catch (e) {
    // The coordinator is down or restarting: what is shown is no longer live.
    document.body.classList.add("stale");
    health(`coordinator unreachable: ${e.message || e} (showing the last state)`, "bad");
  }
}

// loads maps a worker id to its last heartbeat's loading (/api/loads):
// {loaded_stage, progress}.
let loads = new Map();
async function pollLoads() {
  try {
    const resp = await fetch("/api/loads", { cache: "no-store" });
    if (!resp.ok) return;
    const body = await resp.json();
    loads = new Map((body.workers || []).map((w) => [w.worker_id, w]));
    window.tabshardDashboard.loads = body.workers || [];
  } catch { /* keep the last */ }
}

// loadOf says how far a member is in loading its stage's weights: the
// fraction of the stage's bytes (with the plan's size of its stage) while
// it loads, "loaded" once it holds them.
function loadOf(st, id) {
  const l = loads.get(id);
  if (!l) return "–";
  const stage = (st.plan?.stages || []).find((s) => s.device_id === id || (s.standby_device_ids || []).includes(id));
  if (l.progress >= 1 && l.loaded_stage >= 0) return `loaded (stage ${l.loaded_stage})`;
  if (!stage) return l.loaded_stage >= 0 ? `loaded (stage ${l.loaded_stage})` : "none";
  const total = Number(stage.weight_bytes) || 0;
  const pct = Math.floor(100 * (l.progress || 0));
  return total ? `${pct} % · ${fmtBytes(total * (l.progress || 0))} of ${fmtBytes(total)}` : `${pct} %`;
}

function health(text, cls) {
  $("health").textContent = text;
  $("health").className = "pill " + cls;
}

// roles maps a worker id to its role in the plan: primary of a stage,
// standby of one or more stages, or unused (neither).
function roles(plan) {
  const r = new Map(), standby = new Map();
  for (const s of plan?.stages || []) {
    r.set(s.device_id, `primary of stage ${s.index}`);
    for (const sb of s.standby_device_ids || []) standby.set(sb, [...(standby.get(sb) || []), s.index]);
  }
  for (const [id, stages] of standby) {
    if (!r.has(id)) r.set(id, `standby of stage${stages.length > 1 ? "s" : ""} ${stages.join(", ")}`);
  }
  for (const id of plan?.unused_device_ids || []) if (!r.has(id)) r.set(id, "unused");
  return r;
}

// unusedIDs are the plan's unused workers that are no stage's standby.
function unusedIDs(plan) {
  const standby = new Set((plan?.stages || []).flatMap((s) => s.standby_device_ids || []));
  return (plan?.unused_device_ids || []).filter((id) => !standby.has(id));
}

function blocksOf(s) {
  if (!(s.layer_end > s.layer_begin)) return "no blocks";
  return s.layer_end - s.layer_begin === 1 ? `block ${s.layer_begin}` : `blocks ${s.layer_begin}–${s.layer_end - 1}`;
}

// stageHealth is "ok" when the stage's primary is an active member, else
// what is wrong.
function stageHealth(members, s) {
  const m = members.get(s.device_id);
  if (!m) return "its worker is gone";
  const state = stateName(m.state);
  if (state === "active") return "ok";
  return state === "left" || state === "expired" ? `its worker ${state}` : `its worker is ${state}`;
}

function memberByID(st) {
  return new Map((st.members || []).map((m) => [m.worker_id, m]));
}

function renderPlan(st) {
  const plan = st.plan;
  $("epoch").textContent = st.epoch && st.epoch !== "0" ? `epoch ${st.epoch}` : "";
  if (!plan || !plan.stages?.length) {
    const active = (st.members || []).filter((m) => stateName(m.state) === "active").length;
    $("plan").replaceChildren(el("span", { class: "muted" },
      `no plan yet: waiting for workers (${active} active)`));
    $("plan_note").textContent = "";
    return;
  }
  const members = memberByID(st);
  const parts = [];
  plan.stages.forEach((s, i) => {
    if (i > 0) parts.push(el("div", { class: "hop", "data-link": s.link || "LINK_UNSPECIFIED" },
      el("span", { class: "arrow" }, "→"), linkOf(members, plan.stages[i - 1], s)));
    const m = members.get(s.device_id);
    const extra = [s.embedding ? "embedding" : "", s.output_head ? "output head" : ""].filter(Boolean).join(", ");
    const ok = stageHealth(members, s);
    const measured = measuredMs.get(String(s.index));
    parts.push(el("div", { class: "stage" + (ok === "ok" ? "" : " down"), "data-stage": s.index, "data-health": ok },
      el("h3", {}, `stage ${s.index}`, ok === "ok" ? "" : el("span", { class: "pill bad" }, ok)),
      el("div", { class: "who" }, `${s.device_id} ${m ? "(" + m.name + ")" : ""}`),
      el("div", {}, blocksOf(s) + (extra ? ` + ${extra}` : "")),
      el("div", { class: "muted" }, `${fmtBytes(s.weight_bytes)} weights · ${fmtBytes(s.peak_bytes)} peak`),
      el("div", { class: "muted" }, `${backendOf(m)} · ${fmtMs(s.predicted_ms_per_token)} ms/token predicted, ` +
        `${measured === undefined ? "– measured" : fmtMs(measured) + " measured"}`),
      el("div", { class: "muted" }, `standby: ${(s.standby_device_ids || []).join(", ") || "none"}`)));
  });
  $("plan").replaceChildren(...parts);
  const unused = unusedIDs(plan);
  const tps = tpsChart.last("tokens/s");
  $("plan_note").textContent = [
    `${plan.model} · ${plan.block_count} blocks · context ${plan.context_length} · ` +
      `${fmtNum(plan.predicted_tokens_per_second)} tokens/s predicted (compute alone), ${tps === undefined ? "–" : fmtNum(tps)} measured`,
    unused.length ? `unused: ${unused.join(", ")}` : "",
    ...(plan.notes || []),
  ].filter(Boolean).join(" · ");
}

function fmtMs(v) {
  v = Number(v) || 0;
  return v >= 10 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toFixed(4);
}

function backendOf(m) {
  const b = m?.capabilities?.backend || "";
  return b.replace("BACKEND_", "").toLowerCase() || "?";
}

// Tabs of this browser say hello on their cluster's BroadcastChannel with
// their links' traffic; the dashboard listens to add it to each hop.
const presence = new Map(); // worker id → {info, seen}
async function listenPresence() {
  try {
    const join = await (await fetch("/api/join")).json();
    if (!join.cluster || typeof BroadcastChannel === "undefined") return;
    const ch = new BroadcastChannel(`tabshard/${join.cluster}/hello`);
    ch.onmessage = (e) => {
      const d = e.data || {};
      if (d.bye) presence.delete(d.bye);
      if (d.hello) presence.set(d.hello, { info: d.info || {}, seen: Date.now() });
    };
  } catch { /* no presence: hops show the plan's link alone */ }
}
listenPresence();

// The plan's direct links (Stage.link, picked by the leader) and the kind
// of the tab transport that carries each.
const planLinks = {
  LINK_BROADCAST_CHANNEL: { name: "BroadcastChannel", kinds: ["broadcast"] },
  LINK_WEBRTC: { name: "WebRTC", kinds: ["webrtc"] },
};
const linkNames = { LINK_BROADCAST_CHANNEL: "BroadcastChannel", LINK_WEBRTC: "WebRTC", LINK_NATS: "NATS" };

// linkOf names the link the leader picked for a hop (the receiving
// stage's link) and, when this browser hears the sending tab, what that
// link has carried; NATS when the plan names no direct link.
function linkOf(members, from, to) {
  const link = planLinks[to.link];
  if (!link) {
    const tab = (m) => (m?.capabilities?.user_agent || "").includes("Mozilla");
    return tab(members.get(from.device_id)) || tab(members.get(to.device_id)) ? "NATS (WebSocket)" : "NATS";
  }
  const p = presence.get(from.device_id);
  if (p && Date.now() - p.seen < 3000) {
    const l = (p.info.links || []).find((l) => l.peer === to.device_id && link.kinds.includes(l.kind));
    if (l) return `${link.name} (${l.state || "closed"}, ${l.sent} sent)`;
  }
  return link.name;
}

// offers says which browser a member runs in and the links it offers.
function offers(c) {
  const links = (c.links || []).map((l) => linkNames[l] || l);
  const browser = c.browser_id ? `browser ${short(c.browser_id, 9)}` : "";
  return [browser, links.join(", ")].filter(Boolean).join(" · ") || "NATS only";
}

function renderMembers(st) {
  const r = roles(st.plan);
  const rows = (st.members || []).map((m) => {
    const c = m.capabilities || {};
    const adapter = c.adapter ? [c.adapter.vendor, c.adapter.architecture].filter(Boolean).join(" ") : "";
    const state = stateName(m.state);
    return el("tr", {}, el("td", {}, m.worker_id), el("td", {}, m.name),
      el("td", {}, el("span", { class: "pill " + (state === "active" ? "ok" : "bad") }, state)),
      el("td", {}, r.get(m.worker_id) || "–"), el("td", { class: "load", "data-worker": m.worker_id }, loadOf(st, m.worker_id)),
      el("td", {}, backendOf(m)), el("td", {}, adapter || "–"), el("td", {}, offers(c)),
      el("td", {}, fmtBytes(c.memory_budget_bytes)),
      el("td", {}, c.matvec_bandwidth_bytes_per_second ? fmtBytes(c.matvec_bandwidth_bytes_per_second) + "/s" : "not measured"),
      el("td", {}, new Date(Number(m.joined_unix_ms)).toLocaleTimeString()));
  });
  $("members").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 11, class: "muted" }, "no workers yet"))]));
}

function renderFailovers(st) {
  for (const f of st.failovers || []) {
    tpsChart.mark(Number(f.unix_ms), `failover: stage ${f.stage}`);
    latencyChart.mark(Number(f.unix_ms), `failover: stage ${f.stage}`);
  }
  const rows = (st.failovers || []).slice().reverse().map((f) => el("tr", {},
    el("td", {}, new Date(Number(f.unix_ms)).toLocaleTimeString()), el("td", {}, f.epoch), el("td", {}, f.stage),
    el("td", {}, f.from_worker_id), el("td", {}, f.to_worker_id), el("td", {}, f.reason)));
  $("failovers").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "none"))]));
}

// A session always has a prompt: an empty one means /api/state left the
// content out (no admin key).
function renderSessions(st) {
  const count = (s, ids) => ((s.prompt || []).length ? (ids || []).length : "hidden");
  const rows = (st.sessions || []).slice(-10).reverse().map((s) => el("tr", {},
    el("td", {}, s.id), el("td", {}, stateName(s.state)), el("td", {}, count(s, s.prompt)),
    el("td", {}, count(s, s.generated)), el("td", {}, short(s.finish_reason))));
  $("sessions").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "none"))]));
}

// parseMetrics reads the Prometheus text format into name{labels} → value.
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m) out.set(m[1] + (m[2] || ""), Number(m[3]));
  }
  return out;
}

// histograms sums the _sum and _count of a histogram by its label value.
function histograms(metrics, name, label) {
  const out = new Map();
  for (const [key, v] of metrics) {
    const m = key.match(new RegExp(`^${name}_(sum|count)\\{.*${label}="([^"]*)"`));
    if (!m) continue;
    const h = out.get(m[2]) || { sum: 0, count: 0 };
    h[m[1]] = v;
    out.set(m[2], h);
  }
  return out;
}

async function pollMetrics() {
  try {
    const resp = await fetch("/metrics", { cache: "no-store" });
    const metrics = parseMetrics(await resp.text());
    window.tabshardDashboard.metrics = Object.fromEntries(metrics);
    const now = Date.now(), tokens = metrics.get("tabshard_tokens_total") ?? 0;
    const hist = histograms(metrics, "tabshard_stage_latency_seconds", "stage");
    const batches = histograms(metrics, "tabshard_stage_batch_size", "stage");
    if (previous && tokens < previous.tokens) previous = null; // the coordinator restarted: counters began again
    if (previous) tpsChart.push("tokens/s", (tokens - previous.tokens) / ((now - previous.t) / 1000), now);
    for (const [stage, h] of hist) {
      const p = previous?.hist.get(stage);
      const dc = p ? h.count - p.count : 0;
      const ms = dc > 0 ? (1000 * (h.sum - p.sum)) / dc : null;
      if (ms !== null) measuredMs.set(stage, ms);
      latencyChart.push(stage === "step" ? "whole step (pipeline)" : `stage ${stage}`, ms, now);
    }
    // Each stage's mean batch since the last poll: sessions per pass.
    const batchText = [...batches].sort().map(([stage, h]) => {
      const p = previous?.batches?.get(stage);
      const dc = p ? h.count - p.count : h.count;
      return dc > 0 ? `${((h.sum - (p?.sum ?? 0)) / dc).toFixed(1)}` : "–";
    }).join("/");
    previous = { t: now, tokens, hist, batches };
    // Tabs of this browser report their own step time: per-stage latency.
    const stages = window.tabshardDashboard.state?.plan?.stages || [];
    for (const s of stages) {
      const p = presence.get(s.device_id);
      if (p && Date.now() - p.seen < 3000 && p.info.stage === s.index && p.info.role === "primary") {
        latencyChart.push(`stage ${s.index}`, p.info.forward_ms);
      }
    }
    $("counters").textContent = `${metrics.get("tabshard_tokens_total") ?? 0} tokens · ` +
      `${metrics.get("tabshard_failovers_total") ?? 0} failovers · ${metrics.get("tabshard_sessions_active") ?? 0} sessions active · ` +
      `${metrics.get("tabshard_sessions_queued") ?? 0} queued · ${metrics.get("tabshard_sessions_rejected_total") ?? 0} rejected · ` +
      `${metrics.get("tabshard_sessions_cancelled_total") ?? 0} cancelled` + (batchText ? ` · batch per stage ${batchText}` : "");
    tpsChart.draw();
    latencyChart.draw();
  } catch (e) {
    health("metrics: " + (e.message || e), "bad");
  }
}

pollState();
pollMetrics();
setInterval(pollState, 1000);
setInterval(pollMetrics, 2000);
