//go:build js && wasm

package gpu

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
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
	// XMode, when not XAuto, asks the matvecs to read x that way
	// (benchmarks, tests); wgsl.ResolveXMode says what each tensor gets.
	XMode wgsl.XMode
	// Batch is the most vectors a matvec takes (a Stage's MaxBatch): the
	// scratch that prepared vectors live in is sized for it. Zero means
	// 64.
	Batch int
	// NoBatchKernel makes matvecs of several vectors run the one-vector
	// matvec per vector, reading the weights once per vector, and prefill
	// the tiled f32 matmul (A/B measurements); by default the batched
	// matvec (wgsl.MatVecBatch) reads each weight unit once per
	// wgsl.BatchShape.CB vectors, bit for bit as the matvec computes
	// each.
	NoBatchKernel bool
	// BatchKernel is the batched matvec kernel (wgsl.BatchTile by
	// default; wgsl.BatchRows, the earlier one, for A/B measurements).
	BatchKernel wgsl.BatchKernel
	// BatchShape, when set, overrides the batched matvec's shape, kernel
	// included (benchmarks); its TPR must be the matvec's.
	BatchShape func(mv wgsl.MatVecShape) wgsl.BatchShape
	// BatchColumns, when set, are the columns of the batched variants
	// (see batchVariants) whatever the adapter (tests).
	BatchColumns []int

	xp   []*Buffer // prepared-vector scratch; the last is current
	prep prepKey   // what the scratch holds, while no other kernel intervened
}

// prepKey identifies prepared vectors: the program and its length when
// they were last valid, the source vectors and the layout.
type prepKey struct {
	p             *Program
	at            int
	x             *Buffer
	off, stride   int
	planes, units int
	mode          wgsl.XMode
}

// NewOps returns an Ops whose kernels read the Step uniform step.
func (d *Device) NewOps(step *Buffer) *Ops {
	return &Ops{d: d, params: d.NewArena(), step: step}
}

// Flush uploads the recorded parameters.
func (o *Ops) Flush() { o.params.Flush() }

// Destroy frees the parameter and scratch buffers.
func (o *Ops) Destroy() {
	o.params.Destroy()
	for _, b := range o.xp {
		b.Destroy()
	}
	o.xp, o.prep = nil, prepKey{}
}

// Vec is a run of vectors in a buffer: vector i of the batch starts at
// element Off + i*Stride.
type Vec struct {
	Buf         *Buffer
	Off, Stride int
}

// Linear records y (+)= w·x for each vector of the batch: one vector
// with the matvec, several with the batched matvec (the matvec's
// arithmetic, each weight unit read once for up to 16 vectors). With
// matmul (prefill) a tensor whose matvec reads x directly (no int8 path)
// takes the tiled f32 matmul instead, as every tensor does with
// NoBatchKernel.
func (o *Ops) Linear(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate, matmul bool) error {
	if matmul {
		_, _, planar, err := o.planarMode(w)
		if err != nil {
			return err
		}
		if !planar || o.NoBatchKernel {
			return o.matMul(ctx, p, w, x, y, accumulate)
		}
	}
	return o.matVec(ctx, p, w, x, y, accumulate)
}

func (o *Ops) matVec(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate bool) error {
	units, err := wgsl.Units(w.Type, w.Cols)
	if err != nil {
		return err
	}
	mode, err := wgsl.ResolveXMode(w.Type, w.Cols, w.Split, o.XMode)
	if err != nil {
		return err
	}
	shape := wgsl.DefaultMatVecShape(units, w.Rows, mode != wgsl.XDirect)
	if o.Shape != nil {
		shape = o.Shape(units)
	}
	src, err := wgsl.MatVec(w.Type, w.Cols, w.Split, mode, shape, o.d.WGSL())
	pl, err := o.d.compile(ctx, "matvec "+w.Type.String(), src, err)
	if err != nil {
		return err
	}
	variants, err := o.batchVariants(ctx, w, mode, shape)
	if err != nil {
		return err
	}
	xb, xOff, xStride := x.Buf, x.Off, x.Stride
	if mode != wgsl.XDirect {
		if xb, xStride, err = o.prepare(ctx, p, w.Type, mode, units, x); err != nil {
			return err
		}
		xOff = 0
	}
	before := p.Len()
	rpw := shape.RowsPerWorkgroup()
	for i, c := range w.Chunks {
		rows := c.RowEnd - c.RowBegin
		par, err := o.params.Put(MatVecParams{
			Rows: uint32(rows), RowBytes: uint32(w.RowBytes), Units: uint32(units),
			XOff: uint32(xOff), XStride: uint32(xStride), YOff: uint32(y.Off + c.RowBegin), YStride: uint32(y.Stride),
			Accumulate: accumulate,
		}.Words())
		if err != nil {
			return err
		}
		g := o.d.BindGroup(pl, w.Buffers[i].Whole(), xb.Whole(), y.Buf.Whole(), par, o.step.Whole())
		groups := (rows + rpw - 1) / rpw
		if len(variants) == 0 {
			p.add(pl, g, flat(func(n int) int { return groups * n }))
			continue
		}
		// One of them runs, by the batch's size (a dispatch of no
		// workgroups is skipped): the matvec for one vector, else the
		// batched variant of the fewest columns that holds the batch.
		p.add(pl, g, flat(func(n int) int { return groups * int(b2u(n == 1)) }))
		from := 2
		for k, v := range variants {
			bg := o.d.BindGroup(v.pl, w.Buffers[i].Whole(), xb.Whole(), y.Buf.Whole(), par, o.step.Whole())
			rpw := v.shape.RowsPerWorkgroup()
			bgroups, cb, lo, last := (rows+rpw-1)/rpw, v.shape.CB, from, k == len(variants)-1
			p.add(v.pl, bg, flat(func(n int) int {
				if n < lo || (n > cb && !last) {
					return 0
				}
				return bgroups * ((n + cb - 1) / cb)
			}))
			from = cb + 1
		}
	}
	// Prepared vectors stay valid across matvecs that leave their source
	// alone (q, k and v share one; gate and up another).
	if o.prep.p == p && o.prep.at == before && y.Buf != o.prep.x {
		o.prep.at = p.Len()
	}
	return nil
}

// batchVariant is a batched matvec pipeline and its shape.
type batchVariant struct {
	pl    *Pipeline
	shape wgsl.BatchShape
}

// batchVariants are the batched matvecs (BatchKernel's) that run beside
// the matvec of shape for w, fewest columns first (none with
// NoBatchKernel): 4, 8 and 16 columns a workgroup on a GPU, so that a small batch computes few
// idle columns, 4 on a CPU adapter (SwiftShader: its compiler needs
// seconds for 16, and the weights' reuse buys it nothing measurable),
// only BatchShape's when set. Each gives a vector the matvec's result bit
// for bit, so which one runs does not matter to it.
func (o *Ops) batchVariants(ctx context.Context, w *Weights, mode wgsl.XMode, shape wgsl.MatVecShape) ([]batchVariant, error) {
	if o.NoBatchKernel {
		return nil, nil
	}
	def := wgsl.DefaultBatchShape(shape, o.BatchKernel)
	var shapes []wgsl.BatchShape
	cols := o.BatchColumns
	switch {
	case o.BatchShape != nil:
		shapes = []wgsl.BatchShape{o.BatchShape(shape)}
	case cols == nil && o.d.Info.Architecture == "swiftshader":
		shapes = []wgsl.BatchShape{{MatVecShape: wgsl.MatVecShape{WG: shape.WG, TPR: shape.TPR, RT: 1}, CB: 4, Kernel: o.BatchKernel}}
	default:
		if cols == nil {
			cols = []int{4, 8, def.CB}
		}
		for _, cb := range cols {
			if cb <= def.CB && (len(shapes) == 0 || cb > shapes[len(shapes)-1].CB) {
				v := def
				v.CB = cb
				shapes = append(shapes, v)
			}
		}
	}
	var out []batchVariant
	for _, bs := range shapes {
		if bs.TPR != shape.TPR {
			return nil, fmt.Errorf("%w: batched matvec of %d invocations a row beside a matvec of %d", wgsl.ErrUnsupported, bs.TPR, shape.TPR)
		}
		src, err := wgsl.MatVecBatch(w.Type, w.Cols, w.Split, mode, bs, o.d.WGSL())
		pl, err := o.d.compile(ctx, "batched matvec "+w.Type.String(), src, err)
		if err != nil {
			return nil, err
		}
		out = append(out, batchVariant{pl: pl, shape: bs})
	}
	return out, nil
}

// prepare records the Prep kernel laying out x for a planar matvec of t
// in mode, unless the scratch already holds it, and returns the scratch
// and its per-vector stride (in 16-byte planes).
func (o *Ops) prepare(ctx context.Context, p *Program, t kernels.DType, mode wgsl.XMode, units int, x Vec) (*Buffer, int, error) {
	key := o.prepKey(p, t, mode, units, x)
	if o.prep == key {
		return o.xp[len(o.xp)-1], key.planes * units, nil
	}
	return o.recordPrep(ctx, p, t, mode, units, x, 0)
}

// prepKey identifies x laid out for a planar matvec of t in mode.
func (o *Ops) prepKey(p *Program, t kernels.DType, mode wgsl.XMode, units int, x Vec) prepKey {
	return prepKey{p: p, at: p.Len(), x: x.Buf, off: x.Off, stride: x.Stride, planes: wgsl.PrepPlanes(t, mode), units: units, mode: mode}
}

// recordPrep records the Prep kernel, of SwiGLU of gate and up values up
// apart when up > 0.
func (o *Ops) recordPrep(ctx context.Context, p *Program, t kernels.DType, mode wgsl.XMode, units int, x Vec, up int) (*Buffer, int, error) {
	key := o.prepKey(p, t, mode, units, x)
	stride := key.planes * units
	buf, err := o.scratch(stride)
	if err != nil {
		return nil, 0, err
	}
	src, err := wgsl.Prep(t, mode, up > 0)
	pl, err := o.d.compile(ctx, "prep "+mode.String(), src, err)
	if err != nil {
		return nil, 0, err
	}
	par, err := o.params.Put(PrepParams{Units: uint32(units), XOff: uint32(x.Off), XStride: uint32(x.Stride), OutStride: uint32(stride), Up: uint32(up)}.Words())
	if err != nil {
		return nil, 0, err
	}
	p.add(pl, o.d.BindGroup(pl, x.Buf.Whole(), buf.Whole(), par, o.step.Whole()), flat(func(n int) int { return (n*units + 63) / 64 }))
	key.at = p.Len()
	o.prep = key
	return buf, stride, nil
}

// scratch returns the buffer prepared vectors of stride planes go to,
// growing it if needed.
func (o *Ops) scratch(stride int) (*Buffer, error) {
	batch := o.Batch
	if batch <= 0 {
		batch = 64
	}
	size := int64(batch) * int64(stride) * 16
	if len(o.xp) == 0 || o.xp[len(o.xp)-1].Size < size {
		b, err := o.d.NewStorage(size)
		if err != nil {
			return nil, err
		}
		o.xp = append(o.xp, b) // earlier ones stay: recorded bind groups use them
	}
	return o.xp[len(o.xp)-1], nil
}

// planarMode is the planar mode the matvecs of w read x in, or false when
// they read it directly.
func (o *Ops) planarMode(w *Weights) (wgsl.XMode, int, bool, error) {
	units, err := wgsl.Units(w.Type, w.Cols)
	if err != nil {
		return 0, 0, false, err
	}
	mode, err := wgsl.ResolveXMode(w.Type, w.Cols, w.Split, o.XMode)
	if err != nil {
		return 0, 0, false, err
	}
	return mode, units, mode != wgsl.XDirect, nil
}

// RMSNormFor is RMSNorm whose output w's matvec reads next (decoding,
// matmul false): where that matvec reads x planar, the same dispatch lays
// y out for it (wgsl.NormPrep), and the matvecs of w's type that follow
// record no Prep of their own.
func (o *Ops) RMSNormFor(ctx context.Context, p *Program, x Vec, g *Buffer, y Vec, dim int, eps float32, w *Weights, matmul bool) error {
	if matmul || w == nil {
		return o.RMSNorm(ctx, p, x, g, y, dim, eps)
	}
	mode, units, planar, err := o.planarMode(w)
	if err != nil {
		return err
	}
	if !planar || w.Cols != dim {
		return o.RMSNorm(ctx, p, x, g, y, dim, eps)
	}
	if x.Off != 0 || y.Off != 0 {
		return fmt.Errorf("gpu: rmsnorm with offsets")
	}
	key := o.prepKey(p, w.Type, mode, units, y)
	stride := key.planes * units
	buf, err := o.scratch(stride)
	if err != nil {
		return err
	}
	src, err := wgsl.NormPrep(w.Type, mode)
	pl, err := o.d.compile(ctx, "rmsnorm+prep "+mode.String(), src, err)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(dim), f2u(eps), uint32(x.Stride), uint32(y.Stride), uint32(units), uint32(stride), 0, 0})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, x.Buf.Whole(), g.Whole(), y.Buf.Whole(), buf.Whole(), par, o.step.Whole()),
		perPosition)
	key.at = p.Len()
	o.prep = key
	return nil
}

// SwiGLUFor is SwiGLU whose output w's matvec reads next (decoding,
// matmul false): where that matvec reads x planar, SwiGLU is computed by
// the Prep kernel as it lays the vectors out, and the gate values are
// left as they were (the matvec reads only the planes).
func (o *Ops) SwiGLUFor(ctx context.Context, p *Program, h *Buffer, width, stride int, w *Weights, matmul bool) error {
	if matmul || w == nil {
		return o.SwiGLU(ctx, p, h, width, stride)
	}
	mode, units, planar, err := o.planarMode(w)
	if err != nil {
		return err
	}
	if !planar || w.Cols != width || stride < 2*width {
		return o.SwiGLU(ctx, p, h, width, stride)
	}
	_, _, err = o.recordPrep(ctx, p, w.Type, mode, units, Vec{Buf: h, Stride: stride}, width)
	return err
}

func (o *Ops) matMul(ctx context.Context, p *Program, w *Weights, x, y Vec, accumulate bool) error {
	src, err := wgsl.MatMul(w.Type, w.Cols, w.Split)
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
		p.add(pl, g, func(n, _ int) (uint32, uint32, uint32) {
			return tiles, uint32((n + wgsl.MatMulTile - 1) / wgsl.MatMulTile), 1
		})
	}
	return nil
}

// Embed records y[i] = row tokens[i] of the embedding w for the batch
// (y rows of w.Cols values, back to back).
func (o *Ops) Embed(ctx context.Context, p *Program, w *Weights, tokens, y *Buffer) error {
	src, err := wgsl.Embed(w.Type, w.Cols, w.Split)
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
		perPosition)
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

// Rope records RoPE of the queries (into q) and keys (into the key cache),
// and the copy of the values into the value cache, at the batch's
// positions: qkv holds each position's q, k and v side by side (QDim +
// 2 KVDim values); cs holds each position's cosines and sines (RopeTable).
func (o *Ops) Rope(ctx context.Context, p *Program, s RopeShape, qkv, q, kc, vc, cs *Buffer) error {
	pl, err := o.d.compile(ctx, "rope", wgsl.Rope(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(s.Heads), uint32(s.KVHeads), uint32(s.HeadDim), uint32(s.Rot),
		b2u(s.NeoX), uint32(s.Heads * s.HeadDim), uint32(s.KVHeads * s.HeadDim), uint32(s.Slots),
		uint32((s.Heads + 2*s.KVHeads) * s.HeadDim), 0, 0, 0})
	if err != nil {
		return err
	}
	g := o.d.BindGroup(pl, qkv.Whole(), q.Whole(), kc.Whole(), vc.Whole(), cs.Whole(), par, o.step.Whole())
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
	par, err := o.params.Put(s.attnWords(0, 0, 0))
	if err != nil {
		return err
	}
	heads := s.Heads
	p.add(pl, o.d.BindGroup(pl, q.Whole(), kc.Whole(), vc.Whole(), out.Whole(), par, o.step.Whole()),
		flat(func(n int) int { return n * heads }))
	return nil
}

// AttentionSplit records attention in two passes, the keys of each
// (position, head) split in runs of wgsl.AttentionWorkgroup over many
// workgroups, then merged: for decoding, where one query per head would
// leave all but a few of the GPU's cores idle. The splits follow the
// positions the batch reaches, not the cache's slots: a step near the
// start of a 128K context dispatches a few workgroups a head. part holds
// wgsl.SplitPartValues(HeadDim, Slots) floats per (position, head).
func (o *Ops) AttentionSplit(ctx context.Context, p *Program, s RopeShape, q, kc, vc, part, out *Buffer) error {
	return o.AttentionSplitFor(ctx, p, s, q, kc, vc, part, out, nil)
}

// AttentionSplitFor is AttentionSplit whose output w's matvec reads next:
// where that matvec reads x planar, the merge pass lays its output out for
// it too (wgsl.MergePrep), and the matvec records no Prep of its own.
func (o *Ops) AttentionSplitFor(ctx context.Context, p *Program, s RopeShape, q, kc, vc, part, out *Buffer, w *Weights) error {
	partSrc, _, err := wgsl.AttentionSplit(s.HeadDim)
	pp, err := o.d.compile(ctx, "attention-part", partSrc, err)
	if err != nil {
		return err
	}
	par, err := o.params.Put(s.attnWords(s.splitSlots(), 0, 0))
	if err != nil {
		return err
	}
	p.add(pp, o.d.BindGroup(pp, q.Whole(), kc.Whole(), vc.Whole(), part.Whole(), par, o.step.Whole()), s.partSizer())
	return o.attentionMerge(ctx, p, s, par, part, out, w)
}

// AttentionSplitRope is Rope then AttentionSplitFor in one dispatch fewer
// (decoding): the first pass reads q, k and v side by side from qkv as
// Rope does, rotates q and the batch's own keys as it reads them (cs as
// Rope reads it), and stores those keys and their values in kc and vc
// (wgsl.AttentionSplitRope). With bias (q, k and v biases side by side)
// it adds them as it reads the values, as Bias does, in one dispatch
// fewer again. Heads of a multiple of 4 values; runs of at most
// positions positions (see RopeFits).
func (o *Ops) AttentionSplitRope(ctx context.Context, p *Program, s RopeShape, qkv, kc, vc, cs, bias, part, out *Buffer, w *Weights, positions int) error {
	if !o.RopeFits(s.HeadDim, positions) {
		return fmt.Errorf("%w: split attention with RoPE over %d positions of heads of %d values: %d bytes of workgroup memory",
			wgsl.ErrUnsupported, positions, s.HeadDim, wgsl.RopePartBytes(s.HeadDim, positions))
	}
	src, err := wgsl.AttentionSplitRope(s.HeadDim, bias != nil, positions)
	pp, err := o.d.compile(ctx, "attention-part+rope", src, err)
	if err != nil {
		return err
	}
	par, err := o.params.Put(s.attnWords(s.splitSlots(), 0, 0))
	if err != nil {
		return err
	}
	rp, err := o.params.Put([]uint32{uint32(s.Rot), b2u(s.NeoX), uint32((s.Heads + 2*s.KVHeads) * s.HeadDim), 0})
	if err != nil {
		return err
	}
	bs := []Binding{qkv.Whole(), kc.Whole(), vc.Whole(), part.Whole(), par, o.step.Whole(), cs.Whole(), rp}
	if bias != nil {
		bs = append(bs, bias.Whole())
	}
	p.add(pp, o.d.BindGroup(pp, bs...), s.partSizer())
	return o.attentionMerge(ctx, p, s, par, part, out, w)
}

// RopeFits says whether AttentionSplitRope takes runs of positions
// positions of heads of headDim values on the device (their new keys go
// to workgroup memory).
func (o *Ops) RopeFits(headDim, positions int) bool {
	return positions >= 1 && positions <= 64 &&
		int64(wgsl.RopePartBytes(headDim, positions)) <= int64(o.d.Limits.MaxComputeWorkgroupStorageSize)
}

// attentionMerge records split attention's second pass, with par the
// first's Attn parameters; where w's matvec reads x planar, the merge
// lays its output out for it (wgsl.MergePrep).
func (o *Ops) attentionMerge(ctx context.Context, p *Program, s RopeShape, par Binding, part, out *Buffer, w *Weights) error {
	_, mergeSrc, err := wgsl.AttentionSplit(s.HeadDim)
	if err != nil {
		return err
	}
	var key prepKey
	var planes *Buffer
	var prepWords []uint32
	if w != nil {
		mode, units, planar, err := o.planarMode(w)
		if err != nil {
			return err
		}
		if planar && w.Cols == s.Heads*s.HeadDim && s.HeadDim%(w.Cols/units) == 0 {
			key = o.prepKey(p, w.Type, mode, units, Vec{Buf: out, Stride: w.Cols})
			stride := key.planes * units
			if planes, err = o.scratch(stride); err != nil {
				return err
			}
			prepWords = []uint32{uint32(units), uint32(stride), 0, 0}
			mergeSrc, err = wgsl.MergePrep(s.HeadDim, w.Type, mode)
			if err != nil {
				return err
			}
		}
	}
	mp, err := o.d.compile(ctx, "attention-merge", mergeSrc, nil)
	if err != nil {
		return err
	}
	heads := s.Heads
	groups := []Binding{part.Whole(), out.Whole(), par, o.step.Whole()}
	if planes != nil {
		pw, err := o.params.Put(prepWords)
		if err != nil {
			return err
		}
		groups = append(groups, planes.Whole(), pw)
	}
	p.add(mp, o.d.BindGroup(mp, groups...), flat(func(n int) int { return n * heads }))
	if planes != nil {
		key.at = p.Len()
		o.prep = key
	}
	return nil
}

// splitSlots is how many splits of wgsl.AttentionWorkgroup keys the
// cache holds: the spacing of split attention's partials.
func (s RopeShape) splitSlots() int {
	return (s.Slots + wgsl.AttentionWorkgroup - 1) / wgsl.AttentionWorkgroup
}

// partSizer sizes split attention's first pass: a workgroup per
// (position, head, split).
func (s RopeShape) partSizer() Sizer {
	heads := s.Heads
	return flatAt(func(n, pos int) int { return n * heads * s.splits(n, pos) })
}

// AttentionPrefill records split attention for a prefill of up to batch
// positions: the keys each position sees in runs of
// wgsl.AttentionWorkgroup over many workgroups, then merged, as
// AttentionSplit does, but rows positions a pair of dispatches (part
// holds wgsl.SplitPartValues(HeadDim, Slots) floats per (position, head)
// for rows positions: one buffer, whatever the batch, serves them all in
// turn), and the part pass taking group query heads of a KV head a
// workgroup (wgsl.AttentionSplitGroup; 1 is attn_part.wgsl itself). Each
// position's output is bit for bit AttentionSplit's for it.
func (o *Ops) AttentionPrefill(ctx context.Context, p *Program, s RopeShape, q, kc, vc, part, out *Buffer, rows, batch, group int) error {
	if rows <= 0 || batch <= 0 || group <= 0 || s.Heads%group != 0 || (s.Heads/s.KVHeads)%group != 0 {
		return fmt.Errorf("gpu: prefill attention of %d rows a pass, %d in all, %d heads a workgroup for %d/%d heads", rows, batch, group, s.Heads, s.KVHeads)
	}
	partSrc, mergeSrc, err := wgsl.AttentionSplit(s.HeadDim)
	if err == nil && group > 1 {
		partSrc, err = wgsl.AttentionSplitGroup(s.HeadDim, group)
	}
	pp, err := o.d.compile(ctx, fmt.Sprintf("attention-part (%d heads a workgroup)", group), partSrc, err)
	if err != nil {
		return err
	}
	mp, err := o.d.compile(ctx, "attention-merge", mergeSrc, nil)
	if err != nil {
		return err
	}
	slots := (s.Slots + wgsl.AttentionWorkgroup - 1) / wgsl.AttentionWorkgroup
	heads := s.Heads
	for row0 := 0; row0 < batch; row0 += rows {
		par, err := o.params.Put(s.attnWords(slots, row0, rows))
		if err != nil {
			return err
		}
		take := func(n int) int { return max(0, min(rows, n-row0)) }
		p.add(pp, o.d.BindGroup(pp, q.Whole(), kc.Whole(), vc.Whole(), part.Whole(), par, o.step.Whole()),
			flatAt(func(n, pos int) int {
				k := take(n)
				if k == 0 {
					return 0
				}
				return k * heads / group * s.splits(k, pos+row0)
			}))
		p.add(mp, o.d.BindGroup(mp, part.Whole(), out.Whole(), par, o.step.Whole()),
			flat(func(n int) int { return take(n) * heads }))
	}
	return nil
}

// AttentionGroup is the most query heads of one KV head (at most
// wgsl.MaxAttentionGroup, a divisor of those a KV head serves) whose
// queries, weights and reductions fit the workgroup memory the device
// allows, with room to spare.
func (d *Device) AttentionGroup(heads, kvHeads, headDim int) int {
	per := heads / max(kvHeads, 1)
	room := int(d.Limits.MaxComputeWorkgroupStorageSize) - 4*wgsl.AttentionWorkgroup
	for g := min(per, wgsl.MaxAttentionGroup); g > 1; g-- {
		if per%g == 0 && wgsl.AttentionGroupBytes(headDim, g) <= room {
			return g
		}
	}
	return 1
}

// splits is how many runs of wgsl.AttentionWorkgroup keys split attention
// takes for a batch of n positions from pos: those the last position sees
// (attn_part.wgsl computes the same).
func (s RopeShape) splits(n, pos int) int {
	seen := pos + n
	if s.Window > 0 {
		seen = min(seen, s.Window)
	}
	return (seen + wgsl.AttentionWorkgroup - 1) / wgsl.AttentionWorkgroup
}

// attnWords are the Attn parameters of the attention kernels.
// A split attention dispatch takes rows of the batch's positions from
// row0 (rows 0: all).
func (s RopeShape) attnWords(splits, row0, rows int) []uint32 {
	return []uint32{uint32(s.Heads), uint32(s.KVHeads), uint32(s.HeadDim), uint32(s.Heads * s.HeadDim),
		uint32(s.KVHeads * s.HeadDim), uint32(s.Slots), uint32(s.Window), f2u(s.Scale), uint32(splits), uint32(row0), uint32(rows), 0}
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

// SwiGLU records gate = silu(gate)·up, where each position's stride
// values in h hold width gate values and then width up values.
func (o *Ops) SwiGLU(ctx context.Context, p *Program, h *Buffer, width, stride int) error {
	if stride < 2*width {
		return fmt.Errorf("gpu: swiglu of %d values in strides of %d", width, stride)
	}
	pl, err := o.d.compile(ctx, "swiglu", wgsl.SwiGLU(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(width), uint32(stride), 0, 0})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, h.Whole(), par, o.step.Whole()), flat(func(n int) int { return (n*width + 255) / 256 }))
	return nil
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
		perPosition)
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
		perPosition)
	return nil
}
