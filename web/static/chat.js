"use strict";
// The chat page streams a completion over Server-Sent Events (POST
// /v1/completions with "stream": true) and, when the stream breaks before
// [DONE], resumes it from the last event id (GET /v1/sessions/{id}/events)
// with the session's resume token: only its creator may read a session.

let abort = null;
window.tabshardChat = { text: "", done: false, error: "", tokens: 0 };

$("form").addEventListener("submit", (e) => { e.preventDefault(); generate(); });
$("stop").addEventListener("click", () => abort && abort.abort());

function setState(text, cls) {
  $("state").textContent = text;
  $("state").className = "pill " + (cls || "");
}

async function generate() {
  const body = {
    prompt: $("prompt").value, max_tokens: Number($("max_tokens").value), stream: true,
    temperature: Number($("temperature").value), top_p: Number($("top_p").value),
  };
  const chat = window.tabshardChat = { text: "", done: false, error: "", tokens: 0 };
  const shown = document.createTextNode("");
  $("output").replaceChildren(el("b", {}, body.prompt), shown);
  $("error").hidden = true;
  $("stats").textContent = "";
  $("send").disabled = true;
  $("stop").disabled = false;
  abort = new AbortController();
  const started = performance.now();
  let first = 0, lastID = -1, session = "", resumeToken = "", stalled = false;
  const onEvent = (id, data) => {
    if (id !== null) lastID = Number(id);
    if (data === "[DONE]") { chat.done = true; return; }
    const msg = JSON.parse(data);
    if (msg.error?.code === "stage_unavailable") {
      // The session waits for a worker: say what is missing, resume later.
      stalled = true;
      chat.stalled = msg.error.message;
      $("error").textContent = msg.error.message;
      $("error").hidden = false;
      setState("waiting for a worker", "bad");
      return;
    }
    if (msg.error) throw new Error(msg.error.message);
    if (stalled) { stalled = false; $("error").hidden = true; setState("generating", "warn"); }
    const choice = msg.choices[0];
    if (choice.text) {
      if (!first) first = performance.now();
      chat.text += choice.text;
      chat.tokens++;
      shown.data = chat.text;
      const secs = (performance.now() - first) / 1000;
      $("stats").textContent = `${chat.tokens} tokens · first after ${fmtNum(first - started, 0)} ms · ` +
        `${secs > 0 ? fmtNum((chat.tokens - 1) / secs) : "–"} tokens/s`;
    }
    if (choice.finish_reason) setState(`finished: ${choice.finish_reason}`, "ok");
  };
  try {
    setState("generating", "warn");
    // An API key (tabshard up --api-key-file) stays in this tab only.
    if ($("api_key").value) sessionStorage.setItem("tabshardKey", $("api_key").value.trim());
    const key = sessionStorage.getItem("tabshardKey");
    const auth = key ? { Authorization: `Bearer ${key}` } : {};
    let resp = await fetch("/v1/completions", {
      method: "POST", headers: { "Content-Type": "application/json", ...auth }, body: JSON.stringify(body), signal: abort.signal,
    });
    session = resp.headers.get("X-Tabshard-Session") || "";
    resumeToken = resp.headers.get("X-Tabshard-Resume-Token") || "";
    for (let attempt = 0; ; attempt++) {
      if (!resp.ok) {
        const err = await resp.json().catch(() => ({}));
        throw new Error(err.error?.message || resp.statusText);
      }
      await readEvents(resp.body, onEvent);
      if (chat.done || !session || (attempt >= 20 && !stalled)) break;
      if (stalled) attempt = 0; // waiting for a worker is not a failure: keep resuming
      else setState("resuming", "warn");
      await new Promise((r) => setTimeout(r, stalled ? 5000 : 500));
      const headers = { "X-Tabshard-Resume-Token": resumeToken };
      if (lastID >= 0) headers["Last-Event-ID"] = String(lastID);
      resp = await fetch(`/v1/sessions/${encodeURIComponent(session)}/events`, { headers, signal: abort.signal });
    }
    if (!chat.done) throw new Error("the stream ended before [DONE]");
  } catch (e) {
    if (e.name !== "AbortError") {
      chat.error = String(e.message || e);
      $("error").textContent = chat.error;
      $("error").hidden = false;
      setState("failed", "bad");
    } else {
      setState("stopped");
    }
  } finally {
    $("send").disabled = false;
    $("stop").disabled = true;
    abort = null;
  }
}

// readEvents parses a Server-Sent Events body, calling onEvent(id, data).
// A network break ends it quietly (the caller resumes); what onEvent throws
// (a failed generation) goes to the caller.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === "AbortError") throw e;
      return;
    }
    if (chunk.done) return;
    buf += chunk.value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let id = null, data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("id:")) id = line.slice(3).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(id, data.join("\n"));
    }
  }
}
