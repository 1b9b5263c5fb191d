package wasmworker

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
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
	queue    [][]byte
	closed   bool
	deadline time.Time
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
	on("message", func(e js.Value) {
		b := bytesOf(e.Get("data"))
		c.mu.Lock()
		c.queue = append(c.queue, b)
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
			n := copy(p, c.queue[0])
			if n == len(c.queue[0]) {
				c.queue = c.queue[1:]
			} else {
				c.queue[0] = c.queue[0][n:]
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
	if err := trySend(c.ws, jsBytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
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
