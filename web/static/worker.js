"use strict";
// The worker page: loads worker.wasm, which joins the coordinator named by
// this page's address, and draws the status it reports.

const chart = new Series($("chart"), "tokens/s", "tok/s");
let lastStatus = null;

// The wasm worker calls tabshard.onStatus with a JSON Status; tests read
// window.tabshardStatus.
window.tabshardStatus = null;
window.tabshard = {
  onStatus(json) {
    const s = JSON.parse(json);
    window.tabshardStatus = s;
    lastStatus = s;
    render(s);
  },
};

const phaseClass = { ready: "ok", joined: "ok", loading: "warn", connecting: "warn", starting: "warn",
  refused: "bad", error: "bad", left: "" };

function render(s) {
  $("name").textContent = s.name || "";
  const phase = $("phase");
  phase.textContent = s.phase;
  phase.className = "pill " + (phaseClass[s.phase] ?? "");
  $("error").hidden = !s.error;
  $("error").textContent = s.error || "";
  $("worker_id").textContent = s.worker_id || "–";
  $("role").textContent = s.stage >= 0 ? `${s.role} of stage ${s.stage}` : s.role;
  $("shard").textContent = s.layers || "–";
  $("epoch").textContent = s.epoch || "–";
  $("backend").textContent = s.backend + (s.backend_note ? ` (${s.backend_note})` : "");
  $("adapter").textContent = s.adapter || "none";
  $("nats").textContent = s.nats;
  $("lifecycle").textContent = s.lifecycle;
  const total = s.stage_bytes || 0;
  $("progress").value = total > 0 ? Math.min(1, s.loaded_bytes / total) : 0;
  $("loaded").textContent = total > 0
    ? `${fmtBytes(s.loaded_bytes)} of ${fmtBytes(total)}` + (s.cached_bytes ? ` (${fmtBytes(s.cached_bytes)} from browser storage)` : "") +
      (s.load_seconds ? ` in ${fmtNum(s.load_seconds, 1)} s` : "")
    : "waiting for an assignment";
  $("budget").textContent = fmtBytes(s.memory_budget);
  $("wasm_memory").textContent = fmtBytes(s.wasm_memory);
  $("bandwidth").textContent = s.bandwidth ? fmtBytes(s.bandwidth) + "/s" : "–";
  $("tps").textContent = fmtNum(s.tokens_per_second);
  $("forward").textContent = `${fmtNum(s.forward_ms, 2)} ms`;
  $("positions").textContent = `${s.positions} (${s.decode_steps} decode steps)`;
  renderLinks(s.links || []);
  document.title = `${s.worker_id || s.name} · ${s.stage >= 0 ? "stage " + s.stage : s.phase} · tabshard`;
}

function renderLinks(links) {
  if (links.length === 0) return;
  $("links").replaceChildren(...links.map((l) =>
    el("tr", {}, el("td", {}, l.peer), el("td", {}, l.kind), el("td", {}, l.state), el("td", {}, l.sent), el("td", {}, l.recv))));
}

setInterval(() => {
  if (!lastStatus) return;
  chart.push("tokens/s", lastStatus.tokens_per_second);
  chart.draw();
}, 1000);

function fail(message) {
  window.tabshard.onStatus(JSON.stringify({ phase: "error", error: message, name: "", stage: -1, role: "", backend: "", nats: "", lifecycle: "", positions: 0, decode_steps: 0 }));
}

async function start() {
  if (typeof Go === "undefined") {
    return fail("wasm_exec.js did not load: the tab worker is not built into this binary (run `make wasm-worker`).");
  }
  const go = new Go();
  try {
    const resp = await fetch("/static/worker.wasm");
    if (!resp.ok) return fail(await resp.text());
    const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
    await go.run(instance);
  } catch (e) {
    fail("worker.wasm failed: " + e);
  }
}

start();
