//go:build js && wasm

package gpu

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/seeded"
)

// GenerateWeights allocates the tensor name of a seeded model (package
// model/seeded) and generates its bytes in place, chunk by chunk, without
// reading the file or uploading anything: the bytes equal what reading it
// through the model gives, in the GPU's layout.
func (d *Device) GenerateWeights(ctx context.Context, m *model.Model, name string, rows, cols int, maxChunk int64) (*Weights, error) {
	return d.GenerateStacked(ctx, m, []Part{{Name: name, Rows: rows}}, cols, maxChunk)
}

// GenerateStacked is LoadStacked for a seeded model: the tensors' rows
// one after another in one Weights, generated in place.
func (d *Device) GenerateStacked(ctx context.Context, m *model.Model, parts []Part, cols int, maxChunk int64) (*Weights, error) {
	seed, ok := m.Seeded()
	if !ok {
		return nil, fmt.Errorf("gpu: %s: the model's weights are not seeded", parts[0].Name)
	}
	tis, err := stackInfo(m, parts, cols)
	if err != nil {
		return nil, err
	}
	w, err := d.NewWeights(tis[0].Type, totalRows(parts), cols, maxChunk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", parts[0].Name, err)
	}
	at := 0
	for i, p := range parts {
		if err := d.generate(ctx, w, at, p.Rows, tis[i], seed); err != nil {
			w.Destroy()
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		at += p.Rows
	}
	return w, nil
}

// generate fills rows [at, at+rows) of w with tensor ti of a file of seed,
// with the generate kernel.
func (d *Device) generate(ctx context.Context, w *Weights, at, rows int, ti *gguf.TensorInfo, seed uint32) error {
	rec, err := seeded.RecipeOf(ti)
	if err != nil {
		return err
	}
	step, err := d.NewUniform(16)
	if err != nil {
		return err
	}
	defer step.Destroy()
	o := d.NewOps(step)
	defer o.Destroy()
	pl, err := d.compile(ctx, "generate", wgsl.Generate(), nil)
	if err != nil {
		return err
	}
	p := d.NewProgram(step)
	split, nb := uint32(0), uint32(0)
	if w.Split {
		l, err := w.Type.Layout()
		if err != nil {
			return err
		}
		split, nb = 1, uint32(w.Cols/l.BlockElems)
	}
	ts := seeded.TensorSeed(seed, ti.Name)
	for _, sp := range w.spans(at, rows) {
		c := w.Chunks[sp.chunk]
		bytes := int64(sp.end-sp.begin) * w.RowBytes
		words := uint32((bytes + 3) / 4)
		if sp.off+bytes == c.Bytes { // the chunk's last rows: zero its padding too
			words = uint32((c.BufferBytes() - sp.off) / 4)
		}
		par, err := o.params.Put([]uint32{words, uint32(bytes), uint32(w.RowBytes), uint32(sp.begin), ts,
			rec.Kind, rec.BlockBytes, split, rec.Fields[0], rec.Fields[1], rec.Exps[0], rec.Exps[1], rec.Sign,
			nb, uint32(sp.off / 4), uint32(wgsl.SplitScaleOffset(w.Type))})
		if err != nil {
			return err
		}
		p.add(pl, d.BindGroup(pl, w.Buffers[sp.chunk].Whole(), par), flat(func(int) int { return int((words + 255) / 256) }))
	}
	o.Flush()
	p.Run(1, 0)
	return d.Wait(ctx)
}
