package wasmworker

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall/js"
	"time"
)

// DialWebSocket opens a browser WebSocket to url and returns it as a byte
// stream: binary messages in, each Write one binary message out. NATS
// frames its protocol over it as over TCP.
func DialWebSocket(ctx context.Context, url string) (net.Conn, error) {
	ws := js.Global().Get("WebSocket").New(url)
	ws.Set("binaryType", "arraybuffer")
	c := &wsConn{ws: ws, url: url, wake: make(chan struct{}, 1), opened: make(chan error, 1)}
	c.listen()
	select {
	case err := <-c.opened:
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("websocket %s: %w", url, ctx.Err())
	}
}

type wsConn struct {
	ws     js.Value
	url    string
	funcs  []js.Func
	wake   chan struct{} // a message arrived or the socket closed
	opened chan error

	mu       sync.Mutex
	queue    []wsMessage
	closed   bool
	deadline time.Time
	sendBufs map[int]js.Value // Uint8Arrays by size, for Write (see there)
	sendLRU  []int
}

// wsMessage is a received binary message: still in JavaScript (u, n
// bytes) until a Read takes it whole, straight into the reader's buffer —
// the one copy; one larger than that Read's buffer is copied into Go
// (b) first and read from there in pieces.
type wsMessage struct {
	u js.Value
	n int
	b []byte
}

func (c *wsConn) listen() {
	on := func(event string, fn func(js.Value)) {
		f := js.FuncOf(func(_ js.Value, args []js.Value) any {
			fn(arg(args))
			return nil
		})
		c.funcs = append(c.funcs, f)
		c.ws.Set("on"+event, f)
	}
	on("open", func(js.Value) { c.opened <- nil })
	uint8Array, arrayBuffer := js.Global().Get("Uint8Array"), js.Global().Get("ArrayBuffer")
	on("message", func(e js.Value) {
		data := e.Get("data")
		if !data.InstanceOf(arrayBuffer) {
			return // a text message: NATS sends binary ones
		}
		u := uint8Array.New(data)
		c.mu.Lock()
		c.queue = append(c.queue, wsMessage{u: u, n: u.Get("byteLength").Int()})
		c.mu.Unlock()
		c.signal()
	})
	on("error", func(js.Value) {
		select {
		case c.opened <- fmt.Errorf("websocket %s: connection failed", c.url):
		default:
		}
	})
	on("close", func(e js.Value) {
		select {
		case c.opened <- fmt.Errorf("websocket %s: closed (code %d)", c.url, e.Get("code").Int()):
		default:
		}
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.signal()
		for _, ev := range []string{"open", "message", "error", "close"} {
			c.ws.Set("on"+ev, js.Null())
		}
		funcs := c.funcs
		go func() { // not from inside the handler being released
			for _, f := range funcs {
				f.Release()
			}
		}()
	})
}

func (c *wsConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := &c.queue[0]
			if m.b == nil && m.n <= len(p) { // whole, straight from JavaScript
				js.CopyBytesToGo(p, m.u)
				n := m.n
				c.queue = c.queue[1:]
				c.mu.Unlock()
				return n, nil
			}
			if m.b == nil {
				m.b = make([]byte, m.n)
				js.CopyBytesToGo(m.b, m.u)
				m.u = js.Undefined()
			}
			n := copy(p, m.b)
			if n == len(m.b) {
				c.queue = c.queue[1:]
			} else {
				m.b = m.b[n:]
			}
			c.mu.Unlock()
			return n, nil
		}
		closed, deadline := c.closed, c.deadline
		c.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			timeout = t.C
			defer t.Stop()
		}
		select {
		case <-c.wake:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	c.mu.Lock()
	err := trySend(c.ws, c.sendBuf(p))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// keepSendBufs bounds the send buffers kept, by size.
const keepSendBufs = 4

// sendBuf copies p into a Uint8Array of exactly its size, reused for the
// next Write of that size (WebSocket.send copies what it is given, and a
// decode step's messages are all one size): one copy, no fresh memory.
// Called with c.mu held.
func (c *wsConn) sendBuf(p []byte) js.Value {
	n := len(p)
	u, ok := c.sendBufs[n]
	if !ok {
		if c.sendBufs == nil {
			c.sendBufs = map[int]js.Value{}
		}
		if len(c.sendLRU) == keepSendBufs {
			delete(c.sendBufs, c.sendLRU[0])
			c.sendLRU = c.sendLRU[1:]
		}
		u = js.Global().Get("Uint8Array").New(n)
		c.sendBufs[n] = u
	} else {
		c.sendLRU = slices.DeleteFunc(c.sendLRU, func(s int) bool { return s == n })
	}
	c.sendLRU = append(c.sendLRU, n)
	js.CopyBytesToJS(u, p)
	return u
}

// trySend calls ws.send, turning a thrown exception into an error.
func trySend(ws, data js.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("websocket send: %v", r)
		}
	}()
	ws.Call("send", data)
	return nil
}

func (c *wsConn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	c.signal()
	if !already {
		c.ws.Call("close")
	}
	return nil
}

type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

func (c *wsConn) LocalAddr() net.Addr  { return wsAddr("page") }
func (c *wsConn) RemoteAddr() net.Addr { return wsAddr(c.url) }

func (c *wsConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.signal()
	return nil
}

// SetWriteDeadline is a no-op: WebSocket.send never blocks.
func (c *wsConn) SetWriteDeadline(time.Time) error { return nil }
