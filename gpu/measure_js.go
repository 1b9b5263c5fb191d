//go:build js && wasm

package gpu

import (
	"context"
	"encoding/binary"
	"fmt"
	"syscall/js"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// Fill records a fill of the first words words of b with seeded random
// bits (hash & mask | bits), so benchmarks need no upload.
func (o *Ops) Fill(ctx context.Context, p *Program, b *Buffer, words int, seed, mask, bits uint32) error {
	pl, err := o.d.compile(ctx, "fill", wgsl.Fill(), nil)
	if err != nil {
		return err
	}
	par, err := o.params.Put([]uint32{uint32(words), seed, mask, bits})
	if err != nil {
		return err
	}
	p.add(pl, o.d.BindGroup(pl, b.Whole(), par), flat(func(int) int { return (words + 255) / 256 }))
	return nil
}

// FillWeights fills every chunk of w with random bits. For block types
// the fp16 scales take random bits too: the values are meaningless, the
// memory traffic is real.
func (d *Device) FillWeights(ctx context.Context, w *Weights, seed uint32) error {
	step, err := d.NewUniform(16)
	if err != nil {
		return err
	}
	defer step.Destroy()
	o := d.NewOps(step)
	defer o.Destroy()
	p := d.NewProgram(step)
	mask := uint32(0xffffffff)
	if w.Type == kernels.F32 {
		mask = 0xbfffffff // keep exponents small: no Inf or NaN
	}
	for i, b := range w.Buffers {
		if err := o.Fill(ctx, p, b, int(b.Size/4), seed+uint32(i), mask, 0); err != nil {
			return err
		}
	}
	o.Flush()
	p.Run(1, 0)
	return d.Wait(ctx)
}

// Timer measures submissions: on the GPU's clock when the device has
// timestamp-query, always on the host's (submit to completion).
type Timer struct {
	d   *Device
	set js.Value
	res *Buffer
}

// NewTimer returns a timer (GPU timestamps only with timestamp-query).
func (d *Device) NewTimer() (*Timer, error) {
	t := &Timer{d: d}
	if !d.Has("timestamp-query") {
		return t, nil
	}
	t.set = d.device.Call("createQuerySet", object("type", "timestamp", "count", 2))
	b, err := d.newBuffer(16, usageQueryRes|usageCopySrc)
	if err != nil {
		return nil, err
	}
	t.res = b
	return t, nil
}

// Run submits p (n positions from pos) and waits; it returns the host
// time and the GPU time of the pass (0 without timestamp-query).
func (t *Timer) Run(ctx context.Context, p *Program, n, pos int) (host, gpu time.Duration, err error) {
	d := t.d
	d.WriteU32(p.step, 0, []uint32{uint32(n), uint32(pos), 0, 0})
	p.setDims(n, pos)
	pass := p.pass
	if pass.js.Type() != js.TypeObject || pass.js.Length() != len(pass.dims) {
		pass.js = js.Global().Get("Uint32Array").New(len(pass.dims))
	}
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(pass.js.Get("buffer"), pass.js.Get("byteOffset"), 4*len(pass.dims)), u32Bytes(pass.dims))
	if err := d.Wait(ctx); err != nil {
		return 0, 0, err
	}
	timing := js.Null()
	if t.res != nil {
		timing = array(t.set, t.res.v)
	}
	t0 := time.Now()
	d.submitTimed(pass.list, pass.js, pass.Len(), array(), timing)
	if err := d.Wait(ctx); err != nil {
		return 0, 0, err
	}
	host = time.Since(t0)
	if t.res == nil {
		return host, 0, nil
	}
	var ts [16]byte
	if err := d.Read(ctx, t.res, 0, ts[:]); err != nil {
		return host, 0, err
	}
	begin, end := binary.LittleEndian.Uint64(ts[0:]), binary.LittleEndian.Uint64(ts[8:])
	if end > begin {
		gpu = time.Duration(end - begin)
	}
	return host, gpu, nil
}

// Destroy frees the timer.
func (t *Timer) Destroy() {
	if t.res != nil {
		t.res.Destroy()
		t.set.Call("destroy")
	}
}

// best is the GPU time when measured, else the host time.
func best(host, gpu time.Duration) time.Duration {
	if gpu > 0 {
		return gpu
	}
	return host
}

// MeasureRead returns the plain read kernel's bandwidth in bytes per second
// over a buffer of size bytes, best of rounds submissions of reps passes.
func (d *Device) MeasureRead(ctx context.Context, size int64, reps, rounds int) (float64, error) {
	size = min(size, d.Limits.MaxStorageBufferBindingSize/16*16)
	buf, err := d.NewStorage(size)
	if err != nil {
		return 0, err
	}
	defer buf.Destroy()
	sink, err := d.NewStorage(1 << 20)
	if err != nil {
		return 0, err
	}
	defer sink.Destroy()
	step, err := d.NewUniform(16)
	if err != nil {
		return 0, err
	}
	defer step.Destroy()
	pl, err := d.compile(ctx, "read", wgsl.ReadBandwidth(), nil)
	if err != nil {
		return 0, err
	}
	p := d.NewProgram(step)
	g := d.BindGroup(pl, buf.Whole(), sink.Whole())
	groups := min(65535, int(size/16/256/16)+1) // about 16 vec4 per invocation, capped at 2^24 invocations
	for range reps {
		p.add(pl, g, func(int, int) (uint32, uint32, uint32) { return uint32(groups), 1, 1 })
	}
	return d.measure(ctx, p, float64(size)*float64(reps), rounds)
}

// measure runs p rounds times and returns bytes per second of the best.
func (d *Device) measure(ctx context.Context, p *Program, bytes float64, rounds int) (float64, error) {
	return d.measureN(ctx, p, 1, bytes, rounds)
}

// measureN is measure with runs of n positions.
func (d *Device) measureN(ctx context.Context, p *Program, n int, bytes float64, rounds int) (float64, error) {
	t, err := d.NewTimer()
	if err != nil {
		return 0, err
	}
	defer t.Destroy()
	var fastest time.Duration
	for range rounds {
		host, gpu, err := t.Run(ctx, p, n, 0)
		if err != nil {
			return 0, err
		}
		if b := best(host, gpu); fastest == 0 || b < fastest {
			fastest = b
		}
	}
	return bytes / fastest.Seconds(), nil
}

// MatVecBench is one matvec bandwidth measurement's setup.
type MatVecBench struct {
	Type       kernels.DType
	Rows, Cols int
	// Reps is the matvecs per submission; Copies how many distinct
	// matrices they cycle through, so that a matrix smaller than the
	// GPU's cache is not served from it.
	Reps, Copies int
	Shape        *wgsl.MatVecShape
	// X is how the matvec reads x (XAuto: the default); XDirect keeps
	// the weights unsplit so that the direct kernel can read them.
	X wgsl.XMode
	// N is the vectors each matvec takes (0: 1): from 2, the batched
	// matvec (BatchKernel's), unless NoBatch (one matvec per vector);
	// BatchShape overrides its shape's RT, CB, NoStage and Prefetch,
	// and its WG when not 0.
	N           int
	NoBatch     bool
	BatchKernel wgsl.BatchKernel
	BatchShape  *wgsl.BatchShape
}

// MeasureMatVec returns the bandwidth (weight bytes read per second) of
// a matvec, best of rounds submissions, with weights filled on the GPU.
func (d *Device) MeasureMatVec(ctx context.Context, b MatVecBench, rounds int) (float64, error) {
	b.Reps, b.Copies, b.N = max(b.Reps, 1), max(b.Copies, 1), max(b.N, 1)
	step, err := d.NewUniform(16)
	if err != nil {
		return 0, err
	}
	defer step.Destroy()
	x, err := d.NewStorage(4 * int64(b.Cols) * int64(b.N))
	if err != nil {
		return 0, err
	}
	defer x.Destroy()
	y, err := d.NewStorage(4 * int64(b.Rows) * int64(b.N))
	if err != nil {
		return 0, err
	}
	defer y.Destroy()
	xs := make([]float32, b.Cols*b.N)
	for i := range xs {
		xs[i] = float32(i%7) / 7
	}
	d.WriteF32(x, 0, xs)
	o := d.NewOps(step)
	defer o.Destroy()
	o.XMode = b.X
	o.Batch, o.NoBatchKernel, o.BatchKernel = b.N, b.NoBatch, b.BatchKernel
	if b.BatchShape != nil {
		bs := *b.BatchShape
		o.BatchShape = func(mv wgsl.MatVecShape) wgsl.BatchShape {
			s := wgsl.DefaultBatchShape(mv, b.BatchKernel)
			s.RT, s.CB, s.NoStage, s.Prefetch = bs.RT, bs.CB, bs.NoStage, bs.Prefetch
			if bs.WG != 0 {
				s.WG = bs.WG
			}
			return s
		}
	}
	if b.X == wgsl.XDirect {
		d.NoSplit = true
		defer func() { d.NoSplit = false }()
	}
	if b.Shape != nil {
		sh := *b.Shape
		o.Shape = func(int) wgsl.MatVecShape { return sh }
	}
	var ws []*Weights
	defer func() {
		for _, w := range ws {
			w.Destroy()
		}
	}()
	for i := range b.Copies {
		w, err := d.NewWeights(b.Type, b.Rows, b.Cols, 0)
		if err != nil {
			return 0, fmt.Errorf("matrix %d of %d: %w", i+1, b.Copies, err)
		}
		ws = append(ws, w)
		if err := d.FillWeights(ctx, w, uint32(i)*7919); err != nil {
			return 0, err
		}
	}
	p := d.NewProgram(step)
	for i := range b.Reps {
		if err := o.Linear(ctx, p, ws[i%len(ws)], Vec{Buf: x, Stride: b.Cols}, Vec{Buf: y, Stride: b.Rows}, false, false); err != nil {
			return 0, err
		}
	}
	o.Flush()
	return d.measureN(ctx, p, b.N, float64(ws[0].Bytes())*float64(b.Reps), rounds)
}
