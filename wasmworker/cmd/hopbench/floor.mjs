// The floor of a Node.js hop over NATS WebSocket: hopbench's ping-pong in
// plain JavaScript (no Go, no protobuf), speaking the NATS protocol over
// Node's WebSocket: plain publishes on HOP_PUB, a subscription to
// HOP_SUB. Run with --import trace.mjs by TestNodeHop. Environment:
// HOP_ROLE, HOP_WS, HOP_SIZES, HOP_N, HOP_OUT, HOP_PUB, HOP_SUB, and
// HOP_JWT and HOP_SEED for a server that wants credentials. A message's
// first 4 bytes are its sequence.
import { writeFileSync } from 'node:fs';
import { createPrivateKey, sign } from 'node:crypto';

const role = process.env.HOP_ROLE;
const n = Number(process.env.HOP_N);
const sizes = process.env.HOP_SIZES.split(',').map(Number);
const warmup = 10;
const now = () => performance.timeOrigin + performance.now();
const events = [];
const enc = new TextEncoder();
const [inSubj, outSubj] = [process.env.HOP_SUB, process.env.HOP_PUB];

// connectOptions signs the server's nonce with the user's nkey seed
// (base32 of 2 prefix bytes, the 32-byte ed25519 seed, a CRC).
function connectOptions(info) {
  const opts = { verbose: false, pedantic: false, protocol: 1 };
  if (!process.env.HOP_JWT) return opts;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of process.env.HOP_SEED) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 255); bits -= 8; }
  }
  const seed = Buffer.from(out.slice(2, 34));
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  opts.jwt = process.env.HOP_JWT;
  opts.sig = sign(null, Buffer.from(info.nonce), key).toString('base64url');
  return opts;
}

const ws = new WebSocket(process.env.HOP_WS);
ws.binaryType = 'arraybuffer';
let buf = new Uint8Array(0);
let onPayload = null;
let ready;
let sentConnect = false;
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
    if (line.startsWith('INFO ') && !sentConnect) { // later ones are updates
      sentConnect = true;
      const opts = connectOptions(JSON.parse(line.slice(5)));
      ws.send(enc.encode(`CONNECT ${JSON.stringify(opts)}\r\nSUB ${inSubj} 1\r\nPING\r\n`));
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
