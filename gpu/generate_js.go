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
	seed, ok := m.Seeded()
	if !ok {
		return nil, fmt.Errorf("gpu: %s: the model's weights are not seeded", name)
	}
	ti, ok := m.File.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s is missing", model.ErrTensor, name)
	}
	if len(ti.Dims) != 2 || ti.Dims[0] != uint64(cols) || ti.Dims[1] != uint64(rows) {
		return nil, fmt.Errorf("%w: %s has dims %v, want [%d %d]", model.ErrTensor, name, ti.Dims, cols, rows)
	}
	w, err := d.NewWeights(ti.Type, rows, cols, maxChunk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := d.generate(ctx, w, ti, seed); err != nil {
		w.Destroy()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return w, nil
}

// generate fills w, tensor ti of a file of seed, with the generate kernel.
func (d *Device) generate(ctx context.Context, w *Weights, ti *gguf.TensorInfo, seed uint32) error {
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
	split := uint32(0)
	if w.Split {
		split = 1
	}
	ts := seeded.TensorSeed(seed, ti.Name)
	for i, c := range w.Chunks {
		words := uint32(c.BufferBytes() / 4)
		par, err := o.params.Put([]uint32{words, uint32(c.Bytes), uint32(w.RowBytes), uint32(c.RowBegin), ts,
			rec.Kind, rec.BlockBytes, split, rec.Fields[0], rec.Fields[1], rec.Exps[0], rec.Exps[1], rec.Sign,
			uint32(w.Cols / 32), 0, 0})
		if err != nil {
			return err
		}
		p.add(pl, d.BindGroup(pl, w.Buffers[i].Whole(), par), flat(func(int) int { return int((words + 255) / 256) }))
	}
	o.Flush()
	p.Run(1, 0)
	return d.Wait(ctx)
}
