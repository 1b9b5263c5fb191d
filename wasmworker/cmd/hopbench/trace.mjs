// Preload (node --import) for hopbench: records, on the machine's shared
// clock, each WebSocket.send (the bytes handed to the socket) and each
// message event as the page's handler is called, into globalThis.__hopTrace
// as [kind, ms, bytes]. The Go program adds them to its own events.
const trace = [];
globalThis.__hopTrace = trace;
const now = () => performance.timeOrigin + performance.now();
const Base = process.env.HOP_WS_MODULE ? (await import(process.env.HOP_WS_MODULE)).default : globalThis.WebSocket;
class TracedWebSocket extends Base {
  #onmessage = null;
  // HOP_USER_AGENT: the User-Agent of the handshake (undici's headers
  // option), e.g. a browser's, for which nats-server cuts its writes into
  // 4 KiB WebSocket messages.
  constructor(url, protocols) {
    const ua = process.env.HOP_USER_AGENT;
    super(url, ua ? { protocols, headers: { 'User-Agent': ua } } : protocols);
  }
  send(data) {
    const n = data.byteLength ?? data.length;
    trace.push(['send', now(), n]);
    super.send(data);
    trace.push(['sent', now(), n]);
  }
  get onmessage() { return this.#onmessage; }
  set onmessage(f) {
    this.#onmessage = f;
    super.onmessage = f && ((e) => {
      trace.push(['message', now(), e.data.byteLength ?? e.data.length]);
      return f(e);
    });
  }
}
globalThis.WebSocket = TracedWebSocket;
// Bytes read from a socket (the WebSocket's, once the bench runs).
import net from 'node:net';
const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (chunk, encoding) {
  if (chunk) trace.push(['data', now(), chunk.length]);
  return push.call(this, chunk, encoding);
};
