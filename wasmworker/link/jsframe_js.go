package link

import (
	"fmt"
	"slices"
	"sync"
	"syscall/js"
)

// jsFrame is a Received frame in a JavaScript Uint8Array of n bytes.
type jsFrame struct {
	u js.Value
	n int
}

// received wraps a message's data (an ArrayBuffer or a Uint8Array).
func received(data js.Value) jsFrame {
	u := data
	if data.InstanceOf(js.Global().Get("ArrayBuffer")) {
		u = js.Global().Get("Uint8Array").New(data)
	}
	return jsFrame{u: u, n: u.Get("byteLength").Int()}
}

func (f jsFrame) Len() int { return f.n }

// Read copies the frame's first len(dst) bytes: js.CopyBytesToGo copies
// as many bytes as the shorter side has.
func (f jsFrame) Read(dst []byte) { js.CopyBytesToGo(dst, f.u) }

// frameBuffers keeps a few Uint8Arrays to write frames into, by exact
// size: postMessage clones a view's whole ArrayBuffer, and a fresh
// buffer costs page faults on top of the copy (8 MiB of fresh memory is
// tens of ms on a VM). The links copy what they are given synchronously
// (structured clone, a data channel's send queue), so a buffer is free
// again as soon as send returns. A decode step's activations are all one
// size, a prefill's frames MaxFrame but the last.
type frameBuffers struct {
	mu    sync.Mutex // held from get to the link's send
	by    map[int]*frameBuffer
	order []int // sizes, least recently used first
}

// frameBuffer is one buffer and its views from an offset to the end,
// made once: a JavaScript object returned to Go costs tens of µs.
type frameBuffer struct {
	u     js.Value
	views map[int]js.Value
}

func (b *frameBuffer) view(off int) js.Value {
	if off == 0 {
		return b.u
	}
	v, ok := b.views[off]
	if !ok {
		if len(b.views) >= keepViews {
			clear(b.views)
		}
		v = b.u.Call("subarray", off)
		b.views[off] = v
	}
	return v
}

// Bounds of the buffers and views kept.
const (
	keepSizes = 4
	keepViews = 8
	// inline is the largest first part written with the header from one
	// Go buffer (an activation's meta).
	inline = 4 << 10
)

// write copies f, then trailer, into a buffer of exactly their size and
// passes it to send, holding the buffers until send returns: the header
// and a small first part in one copy, the rest (the payload) in one copy
// each.
func (b *frameBuffers) write(f *Frame, trailer []byte, send func(u js.Value) error) error {
	n := f.Len() + len(trailer)
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.get(n)
	parts := f.Body
	first := f.Header[:]
	if len(parts) > 0 && len(parts[0]) <= inline {
		first = append(first, parts[0]...)
		parts = parts[1:]
	}
	js.CopyBytesToJS(buf.u, first)
	off := len(first)
	for _, part := range append(parts, trailer) {
		if len(part) > 0 {
			js.CopyBytesToJS(buf.view(off), part) // copies len(part) bytes
			off += len(part)
		}
	}
	return send(buf.u)
}

// get is the buffer of n bytes, made when none is kept.
func (b *frameBuffers) get(n int) *frameBuffer {
	if b.by == nil {
		b.by = map[int]*frameBuffer{}
	}
	buf, ok := b.by[n]
	if ok {
		b.order = slices.DeleteFunc(b.order, func(s int) bool { return s == n })
	} else {
		if len(b.order) == keepSizes {
			delete(b.by, b.order[0])
			b.order = b.order[1:]
		}
		buf = &frameBuffer{u: js.Global().Get("Uint8Array").New(n), views: map[int]js.Value{}}
		b.by[n] = buf
	}
	b.order = append(b.order, n)
	return buf
}

// call calls v.method(args...), turning a thrown exception into an error.
func call(v js.Value, method string, args ...any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", method, r)
		}
	}()
	v.Call(method, args...)
	return nil
}
