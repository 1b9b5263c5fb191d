package link

import (
	"fmt"
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

// Read copies from off into dst: js.CopyBytesToGo copies as many bytes as
// the shorter side has, so only an offset needs a view.
func (f jsFrame) Read(dst []byte, off int) {
	src := f.u
	if off > 0 {
		src = f.u.Call("subarray", off, off+len(dst))
	}
	js.CopyBytesToGo(dst, src)
}

// frameBuffers keeps a few Uint8Arrays to write frames into, by exact
// size: postMessage clones a view's whole ArrayBuffer, and a fresh
// buffer costs page faults on top of the copy (8 MiB of fresh memory is
// tens of ms on a VM). The links copy what they are given synchronously
// (structured clone, a data channel's send queue), so a buffer is free
// again as soon as send returns. A decode step's activations are all one
// size, a prefill's frames MaxFrame but the last.
type frameBuffers struct {
	mu    sync.Mutex // held from get to the link's send
	by    map[int]js.Value
	order []int // sizes, least recently used first
}

// keepSizes bounds the buffers kept.
const keepSizes = 4

// write copies f into a buffer of exactly f.Len() bytes and passes it to
// send, holding the buffers until send returns.
func (b *frameBuffers) write(f *Frame, send func(u js.Value) error) error {
	n := f.Len()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.by == nil {
		b.by = map[int]js.Value{}
	}
	u, ok := b.by[n]
	if !ok {
		if len(b.order) == keepSizes {
			delete(b.by, b.order[0])
			b.order = b.order[1:]
		}
		u = js.Global().Get("Uint8Array").New(n)
		b.by[n] = u
	} else {
		for i, s := range b.order {
			if s == n {
				b.order = append(b.order[:i], b.order[i+1:]...)
				break
			}
		}
	}
	b.order = append(b.order, n)
	js.CopyBytesToJS(u, f.Header[:])
	off := headerSize
	for _, part := range f.Body {
		js.CopyBytesToJS(u.Call("subarray", off, off+len(part)), part)
		off += len(part)
	}
	return send(u)
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
