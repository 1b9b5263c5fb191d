// The floor of a Node.js hop over NATS WebSocket: hopbench's ping-pong in
// plain JavaScript (no Go, no protobuf, no activation log), speaking the
// NATS protocol over Node's WebSocket to a server without auth. Run with
// --import trace.mjs by TestNodeHop. Environment: HOP_ROLE, HOP_WS,
// HOP_SIZES, HOP_N, HOP_OUT. A message's first 4 bytes are its sequence.
import { writeFileSync } from 'node:fs';

const role = process.env.HOP_ROLE;
const n = Number(process.env.HOP_N);
const sizes = process.env.HOP_SIZES.split(',').map(Number);
const warmup = 10;
const now = () => performance.timeOrigin + performance.now();
const events = [];
const enc = new TextEncoder();
const [inSubj, outSubj] = role === 'pong' ? ['hop.b', 'hop.a'] : ['hop.a', 'hop.b'];

const ws = new WebSocket(process.env.HOP_WS);
ws.binaryType = 'arraybuffer';
let buf = new Uint8Array(0);
let onPayload = null;
let ready;
const connected = new Promise((r) => { ready = r; });

function publish(payload) {
  const seq = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
  events.push({ k: 'publish', t: now(), n: payload.length, seq });
  const head = enc.encode(`PUB ${outSubj} ${payload.length}\r\n`);
  const frame = new Uint8Array(head.length + payload.length + 2);
  frame.set(head);
  frame.set(payload, head.length);
  frame.set([13, 10], head.length + payload.length);
  ws.send(frame);
}

// parse takes whole protocol lines and messages off buf.
function parse() {
  for (;;) {
    const eol = buf.indexOf(10);
    if (eol < 0) return;
    const line = new TextDecoder().decode(buf.subarray(0, eol - 1));
    if (line.startsWith('MSG ')) {
      const size = Number(line.split(' ').at(-1));
      if (buf.length < eol + 1 + size + 2) return;
      const payload = buf.slice(eol + 1, eol + 1 + size);
      buf = buf.subarray(eol + 1 + size + 2);
      const seq = new DataView(payload.buffer).getUint32(0, true);
      events.push({ k: 'handler', t: now(), n: size, seq });
      onPayload(payload);
      continue;
    }
    buf = buf.subarray(eol + 1);
    if (line.startsWith('INFO ')) {
      ws.send(enc.encode(`CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nSUB ${inSubj} 1\r\nPING\r\n`));
    } else if (line === 'PING') {
      ws.send(enc.encode('PONG\r\n'));
    } else if (line === 'PONG') {
      ready();
    } else if (line.startsWith('-ERR')) {
      throw new Error(line);
    }
  }
}

ws.onmessage = (e) => {
  const data = new Uint8Array(e.data);
  if (buf.length === 0) {
    buf = data;
  } else {
    const joined = new Uint8Array(buf.length + data.length);
    joined.set(buf);
    joined.set(data, buf.length);
    buf = joined;
  }
  parse();
};

await connected;
console.log('READY');
const total = sizes.length * (n + warmup);
await new Promise((done) => {
  if (role === 'pong') {
    let left = total;
    onPayload = (p) => { publish(p); if (--left === 0) done(); };
    return;
  }
  let seq = 0, si = 0, k = 0;
  const next = () => {
    if (k === n + warmup) { k = 0; si++; }
    if (si === sizes.length) { done(); return; }
    const p = new Uint8Array(sizes[si]);
    new DataView(p.buffer).setUint32(0, seq++, true);
    k++;
    publish(p);
  };
  onPayload = next;
  next();
});
for (const [k, t, len] of globalThis.__hopTrace) events.push({ k, t, n: len, seq: -1 });
writeFileSync(process.env.HOP_OUT, JSON.stringify(events));
ws.close();
process.exit(0);
