//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"slices"
	"syscall/js"
)

// Sizer gives a dispatch's workgroup counts for a batch of n positions
// from position pos (split attention's grows with the position).
type Sizer func(n, pos int) (x, y, z uint32)

// Program is a recorded sequence of dispatches that share a Step uniform
// (batch size n and first position pos) and run as one submission.
type Program struct {
	d     *Device
	step  *Buffer
	pass  *Pass
	sizes []Sizer
	// prepared is a command buffer recorded ahead (Prepare) with the
	// workgroup counts preparedDims, submitted by the next RunPrepared
	// whose batch and position give the same counts.
	prepared     js.Value
	preparedDims []uint32
}

// NewProgram starts an empty program whose kernels read step.
func (d *Device) NewProgram(step *Buffer) *Program {
	return &Program{d: d, step: step, pass: d.NewPass()}
}

// Len is the number of dispatches.
func (p *Program) Len() int { return p.pass.Len() }

func (p *Program) add(pl *Pipeline, group js.Value, size Sizer) {
	p.pass.Add(pl, group, 0, 1, 1)
	p.sizes = append(p.sizes, size)
}

// Run sets the Step uniform to (n, pos) and submits every dispatch, then
// copies, in one command buffer. It does not wait for the GPU.
func (p *Program) Run(n, pos int, copies ...Copy) {
	p.d.WriteU32(p.step, 0, []uint32{uint32(n), uint32(pos), 0, 0})
	p.setDims(n, pos)
	p.d.Run(p.pass, copies...)
}

// Prepare records the command buffer of a run of n positions from pos
// followed by copies, so that RunPrepared need not: encoding hundreds of
// dispatches takes a millisecond or more, which a worker spends while it
// waits for its next input instead of after receiving it. Buffers the
// program or the copies use must live until the run (or Unprepare).
func (p *Program) Prepare(n, pos int, copies ...Copy) {
	p.setDims(n, pos)
	p.prepared, p.preparedDims = p.d.Record(p.pass, copies...), slices.Clone(p.pass.dims)
}

// Prepared reports whether a command buffer recorded ahead serves a run
// of n positions from pos: one was, and its workgroup counts are those
// of this run.
func (p *Program) Prepared(n, pos int) bool {
	if p.prepared.Type() != js.TypeObject {
		return false
	}
	for i, s := range p.sizes {
		x, y, z := s(n, pos)
		if d := p.preparedDims[3*i:]; d[0] != x || d[1] != y || d[2] != z {
			return false
		}
	}
	return true
}

// Unprepare drops a recorded command buffer.
func (p *Program) Unprepare() { p.prepared = js.Undefined() }

// RunPrepared is Run with copies, submitting the command buffer Prepare
// recorded when it was for n positions and the same copies (the caller's
// promise), else recording one now.
func (p *Program) RunPrepared(n, pos int, copies ...Copy) {
	if !p.Prepared(n, pos) {
		p.Run(n, pos, copies...)
		return
	}
	p.d.WriteU32(p.step, 0, []uint32{uint32(n), uint32(pos), 0, 0})
	p.d.Submit(p.prepared)
	p.Unprepare()
}

func (p *Program) setDims(n, pos int) {
	for i, s := range p.sizes {
		x, y, z := s(n, pos)
		p.pass.SetDims(i, x, y, z)
	}
}

// flat sizes a dispatch of per(n) workgroups spread over x and y.
func flat(per func(n int) int) Sizer {
	return flatAt(func(n, _ int) int { return per(n) })
}

// flatAt sizes a dispatch of per(n, pos) workgroups spread over x and y.
func flatAt(per func(n, pos int) int) Sizer {
	return func(n, pos int) (uint32, uint32, uint32) {
		x, y := Grid(per(n, pos))
		return x, y, 1
	}
}

// perPosition sizes a dispatch of one workgroup per position.
func perPosition(n, _ int) (uint32, uint32, uint32) { return uint32(n), 1, 1 }

// Arena hands out uniform parameter blocks, each at its own aligned
// offset of a shared buffer, so that hundreds of dispatches need a few
// buffers and one upload.
type Arena struct {
	d     *Device
	slot  int64
	bufs  []*Buffer
	data  [][]byte
	used  int64 // bytes used in the last buffer
	dirty bool
}

const arenaBytes = 64 << 10

// NewArena returns an empty arena.
func (d *Device) NewArena() *Arena {
	return &Arena{d: d, slot: int64(max(256, d.Limits.MinUniformBufferOffsetAlignment)), used: arenaBytes}
}

// Put stores words (at most 64) and returns their binding; Flush uploads.
func (a *Arena) Put(words []uint32) (Binding, error) {
	if len(words) == 0 || 4*int64(len(words)) > a.slot {
		return Binding{}, fmt.Errorf("gpu: uniform of %d words", len(words))
	}
	if a.used+a.slot > arenaBytes {
		b, err := a.d.NewUniform(arenaBytes)
		if err != nil {
			return Binding{}, err
		}
		a.bufs, a.data, a.used = append(a.bufs, b), append(a.data, make([]byte, arenaBytes)), 0
	}
	last := len(a.bufs) - 1
	copy(a.data[last][a.used:], u32Bytes(words))
	bind := Binding{Buffer: a.bufs[last], Offset: a.used, Size: roundUp(4*int64(len(words)), 16)}
	a.used += a.slot
	a.dirty = true
	return bind, nil
}

// Flush uploads what Put stored.
func (a *Arena) Flush() {
	if !a.dirty {
		return
	}
	for i, b := range a.bufs {
		a.d.Write(b, 0, a.data[i])
	}
	a.dirty = false
}

// Destroy frees the arena's buffers.
func (a *Arena) Destroy() {
	for _, b := range a.bufs {
		b.Destroy()
	}
	a.bufs, a.data = nil, nil
}

// compile is Pipeline with the shader's name in errors.
func (d *Device) compile(ctx context.Context, name, src string, err error) (*Pipeline, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := d.Pipeline(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// appendTo adds p's dispatches to pass (one call into JavaScript), sized
// for n positions from pos: batched passes are assembled from programs
// recorded once (Stage.ForwardBatch).
func (p *Program) appendTo(pass *Pass, n, pos int) {
	pass.list.Get("push").Call("apply", pass.list, p.pass.list)
	for _, s := range p.sizes {
		x, y, z := s(n, pos)
		pass.dims = append(pass.dims, x, y, z)
	}
}

// reset empties the pass for assembling again.
func (p *Pass) reset() {
	p.list.Set("length", 0)
	p.dims = p.dims[:0]
}

// Dispatches is how many dispatches a run of n positions from pos
// submits: those recorded, less those its sizes skip (the matvec and the
// batched matvec are both recorded, and one runs).
func (p *Program) Dispatches(n, pos int) int {
	k := 0
	for _, s := range p.sizes {
		if x, _, _ := s(n, pos); x > 0 {
			k++
		}
	}
	return k
}
