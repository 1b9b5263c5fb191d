"use strict";
// tabshardFetchRange(url, init) fetches url and reads the whole body here,
// into one Uint8Array of the announced length: the Go worker awaits one
// promise per weight piece (a few MiB) instead of one per network chunk,
// which is what net/http's fetch transport does and what bounded the load
// rate (wasmworker.RangeFetchTransport). It resolves to {status,
// statusText, headers: [name, value, ...], body}. The worker page loads it
// as a script; Node.js tab processes import it in their preload.
globalThis.tabshardFetchRange = async function tabshardFetchRange(url, init) {
  const resp = await fetch(url, init);
  const headers = [];
  resp.headers.forEach((value, name) => headers.push(name, value));
  const announced = Number(resp.headers.get("content-length"));
  let body;
  if (resp.body && Number.isSafeInteger(announced) && announced >= 0) {
    body = new Uint8Array(announced);
    let at = 0;
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > body.length) { // more than announced: grow
        const bigger = new Uint8Array(Math.max(body.length * 2, at + value.length));
        bigger.set(body.subarray(0, at));
        body = bigger;
      }
      body.set(value, at);
      at += value.length;
    }
    body = at === body.length ? body : body.subarray(0, at);
  } else {
    body = new Uint8Array(await resp.arrayBuffer());
  }
  return { status: resp.status, statusText: resp.statusText, headers, body };
};
