//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"strings"
	"syscall/js"
)

// Pipeline is a compiled compute shader (entry point main) with its
// automatic bind group layout.
type Pipeline struct {
	v      js.Value
	layout js.Value
}

// Pipeline compiles src, or returns the pipeline compiled from the same
// source before. Compilation errors come back with the shader's messages.
func (d *Device) Pipeline(ctx context.Context, src string) (*Pipeline, error) {
	if p, ok := d.pipelines[src]; ok {
		return p, nil
	}
	d.device.Call("pushErrorScope", "validation")
	mod := d.device.Call("createShaderModule", object("code", src))
	// Asynchronous: the driver compiles while the page goes on (a large
	// kernel takes seconds on a CPU adapter; heartbeats must not wait).
	v, perr := await(ctx, d.device.Call("createComputePipelineAsync", object("layout", "auto",
		"compute", object("module", mod, "entryPoint", "main"))))
	e, err := await(ctx, d.device.Call("popErrorScope"))
	if err != nil {
		return nil, err
	}
	if e.Type() == js.TypeObject {
		return nil, fmt.Errorf("%w: shader: %s%s", ErrDevice, e.Get("message").String(), d.compileMessages(ctx, mod))
	}
	if perr != nil {
		return nil, fmt.Errorf("%w: shader: %w%s", ErrDevice, perr, d.compileMessages(ctx, mod))
	}
	p := &Pipeline{v: v, layout: v.Call("getBindGroupLayout", 0)}
	d.pipelines[src] = p
	return p, nil
}

// compileMessages lists the shader module's compilation messages.
func (d *Device) compileMessages(ctx context.Context, mod js.Value) string {
	info, err := await(ctx, mod.Call("getCompilationInfo"))
	if err != nil || info.Type() != js.TypeObject {
		return ""
	}
	var b strings.Builder
	msgs := info.Get("messages")
	for i := 0; i < msgs.Length(); i++ {
		m := msgs.Index(i)
		fmt.Fprintf(&b, "\n  %s %d:%d: %s", str(m, "type"), int(num(m, "lineNum")), int(num(m, "linePos")), str(m, "message"))
	}
	return b.String()
}

// BindGroup binds bs to slots 0, 1, … of p's group 0.
func (d *Device) BindGroup(p *Pipeline, bs ...Binding) js.Value {
	entries := make([]any, len(bs))
	for i, b := range bs {
		res := object("buffer", b.Buffer.v, "offset", b.Offset)
		if b.Size > 0 {
			res.Set("size", b.Size)
		}
		entries[i] = object("binding", i, "resource", res)
	}
	return d.device.Call("createBindGroup", object("layout", p.layout, "entries", array(entries...)))
}

// Pass is a recorded list of dispatches, replayed by Run with workgroup
// counts that may change from one run to the next.
type Pass struct {
	list js.Value
	dims []uint32
	js   js.Value // dims as a Uint32Array
}

// NewPass starts an empty pass.
func (d *Device) NewPass() *Pass {
	return &Pass{list: js.Global().Get("Array").New()}
}

// Len is the number of dispatches recorded.
func (p *Pass) Len() int { return len(p.dims) / 3 }

// Add records a dispatch of p's pipeline with group over x×y×z
// workgroups and returns its index.
func (p *Pass) Add(pl *Pipeline, group js.Value, x, y, z uint32) int {
	p.list.Call("push", array(pl.v, group))
	p.dims = append(p.dims, x, y, z)
	return p.Len() - 1
}

// SetDims changes dispatch i's workgroup counts; x = 0 skips it.
func (p *Pass) SetDims(i int, x, y, z uint32) {
	p.dims[3*i], p.dims[3*i+1], p.dims[3*i+2] = x, y, z
}

// Copy is a buffer-to-buffer copy submitted after a pass's dispatches.
type Copy struct {
	Src       *Buffer
	SrcOffset int64
	Dst       *Buffer
	DstOffset int64
	Size      int64
}

// Run submits p's dispatches in one compute pass, then copies, in one
// command buffer. It does not wait for the GPU.
func (d *Device) Run(p *Pass, copies ...Copy) {
	cs := copyArgs(copies)
	if p == nil {
		d.submit(js.Null(), js.Null(), 0, array(cs...))
		return
	}
	p.syncDims()
	d.submit(p.list, p.js, p.Len(), array(cs...))
}

// Record encodes p and copies into a command buffer without submitting it
// (Submit does, once).
func (d *Device) Record(p *Pass, copies ...Copy) js.Value {
	p.syncDims()
	return d.encode.Invoke(d.device, d.queue, p.list, p.js, p.Len(), array(copyArgs(copies)...), js.Null(), true)
}

// Submit submits a command buffer Record made.
func (d *Device) Submit(cb js.Value) { d.queue.Call("submit", array(cb)) }

func copyArgs(copies []Copy) []any {
	cs := make([]any, 0, 5*len(copies))
	for _, c := range copies {
		cs = append(cs, c.Src.v, c.SrcOffset, c.Dst.v, c.DstOffset, c.Size)
	}
	return cs
}

// syncDims copies the workgroup counts to their JS array.
func (p *Pass) syncDims() {
	if p.js.Type() != js.TypeObject || p.js.Length() != len(p.dims) {
		p.js = js.Global().Get("Uint32Array").New(len(p.dims))
	}
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(p.js.Get("buffer"), p.js.Get("byteOffset"), 4*len(p.dims)), u32Bytes(p.dims))
}

func (d *Device) submit(list, dims js.Value, n int, copies js.Value) {
	d.submitTimed(list, dims, n, copies, js.Null())
}

func (d *Device) submitTimed(list, dims js.Value, n int, copies, timing js.Value) {
	if dims.Type() != js.TypeObject {
		dims = js.Global().Get("Uint32Array").New(0)
	}
	d.encode.Invoke(d.device, d.queue, list, dims, n, copies, timing, false)
}
