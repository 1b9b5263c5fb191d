//go:build js && wasm

package gpu

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/kernels/wgsl"
)

// Ops records kernels into programs: it compiles (through the device's
// pipeline cache), stores each dispatch's parameters in its arena and
// makes the bind groups. Call Flush before running what it recorded.
type Ops struct {
	d      *Device
	params *Arena
	step   *Buffer
	// Shape, when set, overrides the matvec work split (benchmarks).
	Shape func(units int) wgsl.MatVecShape
}

// NewOps returns an Ops whose kernels read the Step uniform step.
func (d *Device) NewOps(step *Buffer) *Ops {
	return &Ops{d: d, params: d.NewArena(), step: step}
}

// Flush uploads the recorded parameters.
func (o *Ops) Flush() { o.params.Flush() }

// Destroy frees the parameter buffers.
func (o *Ops) Destroy() { o.params.Destroy() }

// Vec is a run of vectors in a buffer: vector i of the batch starts at
// element Off + i*Stride.
type Vec struct {
	Buf         *Buffer
	Off, Stride int
}

// Linear records y (+)= w·x for each vector of the batch, with the matvec
// kernel (matmul false: for decoding) or the tiled matmul (prefill).
func (o *Ops) Linear(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate, matmul bool) error {
	if matmul {
		return o.matMul(ctx, p, w, x, y, accumulate)
	}
	return o.matVec(ctx, p, w, x, y, accumulate)
}

func (o *Ops) matVec(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate bool) error {
	units, err := wgsl.Units(w.Type, w.Cols)
	if err != nil {
		return err
	}
	shape := wgsl.DefaultMatVecShape(units, w.Rows)
	if o.Shape != nil {
		shape = o.Shape(units)
	}
	src, err := wgsl.MatVec(w.Type, w.Cols, shape, o.d.WGSL())
	pl, err := o.d.compile(ctx, "matvec "+w.Type.String(), src, err)
	if err != nil {
		return err
	}
	rpw := shape.RowsPerWorkgroup()
	for i, c := range w.Chunks {
		rows := c.RowEnd - c.RowBegin
		par, err := o.params.Put(MatVecParams{
			Rows: uint32(rows), RowBytes: uint32(w.RowBytes), Units: uint32(units),
			XOff: uint32(x.Off), XStride: uint32(x.Stride), YOff: uint32(y.Off + c.RowBegin), YStride: uint32(y.Stride),
			Accumulate: accumulate,
		}.Words())
		if err != nil {
			return err
		}
		g := o.d.BindGroup(pl, w.Buffers[i].Whole(), x.Buf.Whole(), y.Buf.Whole(), par, o.step.Whole())
		groups := (rows + rpw - 1) / rpw
		p.add(pl, g, flat(func(n int) int { return groups * n }))
	}
	return nil
}

func (o *Ops) matMul(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate bool) error {
	src, err := wgsl.MatMul(w.Type, w.Cols)
	pl, err := o.d.compile(ctx, "matmul "+w.Type.String(), src, err)
	if err != nil {
		return err
	}
	for i, c := range w.Chunks {
		rows := c.RowEnd - c.RowBegin
		par, err := o.params.Put(MatMulParams{
			Rows: uint32(rows), RowBytes: uint32(w.RowBytes), Cols: uint32(w.Cols),
			XOff: uint32(x.Off), XStride: uint32(x.Stride), YOff: uint32(y.Off + c.RowBegin), YStride: uint32(y.Stride),
			Accumulate: accumulate,
		}.Words())
		if err != nil {
			return err
		}
		g := o.d.BindGroup(pl, w.Buffers[i].Whole(), x.Buf.Whole(), y.Buf.Whole(), par, o.step.Whole())
		tiles := uint32((rows + wgsl.MatMulTile - 1) / wgsl.MatMulTile)
		p.add(pl, g, func(n int) (uint32, uint32, uint32) {
			return tiles, uint32((n + wgsl.MatMulTile - 1) / wgsl.MatMulTile), 1
		})
	}
	return nil
}

// Embed records y[i] = row tokens[i] of the embedding w for the batch
// (y rows of w.Cols values, back to back).
func (o *Ops) Embed(ctx context.Context, p *Program, w *Weights, tokens, y *Buffer) error {
	src, err := wgsl.Embed(w.Type, w.Cols)
	pl, err := o.d.compile(ctx, "embed "+w.Type.String(), src, err)
	if err != nil {
		return err
	}
	for i, c := range w.Chunks {
		par, err := o.params.Put([]uint32{uint32(c.RowBegin), uint32(c.RowEnd), uint32(w.RowBytes), uint32(w.Cols)})
		if err != nil {
			return err
		}
		g := o.d.BindGroup(pl, w.Buffers[i].Whole(), tokens.Whole(), y.Whole(), par, o.step.Whole())
		dim := w.Cols
		p.add(pl, g, flat(func(n int) int { return (n*dim + 255) / 256 }))
	}
	return nil
}

// RMSNorm records y = RMSNorm(x)·g per position, dim values each.
func (o *Ops) RMSNorm(ctx context.Context, p *Program, x Vec, g *Buffer, y Vec, dim int, eps float32) error {
	pl, err := o.d.compile(ctx, "rmsnorm", wgsl.RMSNorm(), nil)
	if err != nil {
		return err
	}
	if x.Off != 0 || y.Off != 0 {
		return fmt.Errorf("gpu: rmsnorm with offsets")
	}
	par, err := o.params.Put([]uint32{uint32(dim), f2u(eps), uint32(x.Stride), uint32(y.Stride)})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, x.Buf.Whole(), g.Whole(), y.Buf.Whole(), par, o.step.Whole()),
		func(n int) (uint32, uint32, uint32) { return uint32(n), 1, 1 })
	return nil
}

// RopeShape is the geometry RoPE and attention need.
type RopeShape struct {
	Heads, KVHeads, HeadDim int
	Rot                     int // rotated pairs per head (RopeDim/2)
	NeoX                    bool
	Slots                   int // KV cache rows
	Window                  int // sliding window, 0 for none
	Scale                   float32
}

// Rope records RoPE of q (in place) and k (into the key cache), and the
// copy of v into the value cache, at the batch's positions; cs holds each
// position's cosines and sines (RopeTable).
func (o *Ops) Rope(ctx context.Context, p *Program, s RopeShape, q, k, v, kc, vc, cs *Buffer) error {
	pl, err := o.d.compile(ctx, "rope", wgsl.Rope(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(s.Heads), uint32(s.KVHeads), uint32(s.HeadDim), uint32(s.Rot),
		b2u(s.NeoX), uint32(s.Heads * s.HeadDim), uint32(s.KVHeads * s.HeadDim), uint32(s.Slots)})
	if err != nil {
		return err
	}
	g := o.d.BindGroup(pl, q.Whole(), k.Whole(), v.Whole(), kc.Whole(), vc.Whole(), cs.Whole(), par, o.step.Whole())
	per := (s.Heads + s.KVHeads) * s.HeadDim / 2
	p.add(pl, g, flat(func(n int) int { return (n*per + 63) / 64 }))
	return nil
}

// Attention records each head's attention output for the batch.
func (o *Ops) Attention(ctx context.Context, p *Program, s RopeShape, q, kc, vc, out *Buffer) error {
	src, err := wgsl.Attention(s.HeadDim)
	pl, err := o.d.compile(ctx, "attention", src, err)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(s.Heads), uint32(s.KVHeads), uint32(s.HeadDim), uint32(s.Heads * s.HeadDim),
		uint32(s.KVHeads * s.HeadDim), uint32(s.Slots), uint32(s.Window), f2u(s.Scale)})
	if err != nil {
		return err
	}
	heads := s.Heads
	p.add(pl, o.d.BindGroup(pl, q.Whole(), kc.Whole(), vc.Whole(), out.Whole(), par, o.step.Whole()),
		flat(func(n int) int { return n * heads }))
	return nil
}

// elementwise records one of the kernels over width values per position,
// stride apart.
func (o *Ops) elementwise(ctx context.Context, p *Program, name, src string, a, b *Buffer, width, stride int) error {
	pl, err := o.d.compile(ctx, name, src, nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(width), uint32(stride), 0, 0})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, a.Whole(), b.Whole(), par, o.step.Whole()),
		flat(func(n int) int { return (n*width + 255) / 256 }))
	return nil
}

// SwiGLU records gate = silu(gate)·up.
func (o *Ops) SwiGLU(ctx context.Context, p *Program, gate, up *Buffer, width, stride int) error {
	return o.elementwise(ctx, p, "swiglu", wgsl.SwiGLU(), gate, up, width, stride)
}

// Add records y += x.
func (o *Ops) Add(ctx context.Context, p *Program, y, x *Buffer, width, stride int) error {
	return o.elementwise(ctx, p, "add", wgsl.Add(), y, x, width, stride)
}

// Bias records y[i] += b for every position i.
func (o *Ops) Bias(ctx context.Context, p *Program, y, b *Buffer, width, stride int) error {
	return o.elementwise(ctx, p, "bias", wgsl.Bias(), y, b, width, stride)
}

// Argmax records r[i] = argmax of position i's length values.
func (o *Ops) Argmax(ctx context.Context, p *Program, x, r *Buffer, length, stride int) error {
	pl, err := o.d.compile(ctx, "argmax", wgsl.Argmax(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(length), uint32(stride), 0, 0})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, x.Whole(), r.Whole(), par, o.step.Whole()),
		func(n int) (uint32, uint32, uint32) { return uint32(n), 1, 1 })
	return nil
}

// Sample records r[i] = a draw from softmax(x_i/temperature) with coin
// coins[i].
func (o *Ops) Sample(ctx context.Context, p *Program, x, r, coins *Buffer, length, stride int, temperature float32) error {
	pl, err := o.d.compile(ctx, "sample", wgsl.Sample(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(length), uint32(stride), f2u(temperature), 0})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, x.Whole(), r.Whole(), par, o.step.Whole(), coins.Whole()),
		func(n int) (uint32, uint32, uint32) { return uint32(n), 1, 1 })
	return nil
}
