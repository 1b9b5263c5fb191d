package synth

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/seeded"
)

// Weights says what a preset file's tensors hold.
type Weights int

// What preset files can hold. WeightsZero is the zero value.
const (
	// WeightsZero writes every tensor as zeros, stored sparsely: a 40 GB
	// model costs no disk, and its header and byte ranges are exact.
	WeightsZero Weights = iota
	// WeightsRandom draws seeded random values, quantized to each tensor's
	// type.
	WeightsRandom
	// WeightsSeeded stores zeros, sparsely, and the seed of package
	// model/seeded: every reader generates the same weights from it, a GPU
	// in place, so a 40 GB model needs no disk and no download.
	WeightsSeeded
)

// ParseWeights reads "zero" or "random".
func ParseWeights(s string) (Weights, error) {
	switch strings.ToLower(s) {
	case "zero":
		return WeightsZero, nil
	case "random":
		return WeightsRandom, nil
	case "seeded":
		return WeightsSeeded, nil
	}
	return 0, fmt.Errorf("%w: weights %q (want zero, random or seeded)", ErrBadSpec, s)
}

// WritePreset writes a GGUF file with p's exact tensor list, each tensor of
// the type pol gives it, p's architecture metadata and a synthetic
// vocabulary of p's size. It returns the policy's fallback notes.
func WritePreset(path string, p *preset.Preset, pol *quantize.Policy, w Weights, seed uint64) ([]string, error) {
	return WritePresetProgress(path, p, pol, w, seed, nil)
}

// Progress receives the bytes of drawn weights written so far and their
// total; it is called often, the receiver throttles.
type Progress func(done, total int64)

// WritePresetProgress is WritePreset reporting progress on the weights it
// draws (random weights of a large preset take minutes; zero and seeded
// weights are not written and report nothing), with extra metadata after
// the preset's (a chat template, say).
func WritePresetProgress(path string, p *preset.Preset, pol *quantize.Policy, w Weights, seed uint64, progress Progress, extra ...gguf.KV) ([]string, error) {
	gw, notes, err := presetWriterProgress(p, pol, w, seed, progress)
	if err != nil {
		return nil, err
	}
	for _, kv := range extra {
		if err := gw.Add(kv.Key, kv.Value); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSpec, err)
		}
	}
	return notes, gw.WriteFile(path)
}

// WritePresetTo writes what WritePreset does to dst, zeros included (a
// seeded or small model; a zero 70B file belongs on disk, sparse).
func WritePresetTo(dst io.Writer, p *preset.Preset, pol *quantize.Policy, w Weights, seed uint64) ([]string, error) {
	gw, notes, err := presetWriter(p, pol, w, seed)
	if err != nil {
		return nil, err
	}
	_, err = gw.WriteTo(dst)
	return notes, err
}

func presetWriter(p *preset.Preset, pol *quantize.Policy, w Weights, seed uint64) (*gguf.Writer, []string, error) {
	return presetWriterProgress(p, pol, w, seed, nil)
}

func presetWriterProgress(p *preset.Preset, pol *quantize.Policy, w Weights, seed uint64, progress Progress) (*gguf.Writer, []string, error) {
	if w == WeightsSeeded && seed > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%w: seeded weights take a 32-bit seed, not %d", ErrBadSpec, seed)
	}
	b := builder{w: gguf.NewWriter()}
	for _, kv := range p.Metadata() {
		b.add(kv.Key, kv.Value)
	}
	b.add("general.file_type", gguf.Uint32(pol.FileType))
	b.add("general.quantization_version", gguf.Uint32(2))
	b.vocab(p.Vocab)
	if w == WeightsSeeded {
		b.add(seeded.Key, gguf.Uint32(uint32(seed)))
	}
	typed, notes := p.Typed(pol)
	if w == WeightsSeeded {
		for _, t := range typed {
			ti := gguf.TensorInfo{Name: t.Name, Type: t.Type, Dims: t.Dims}
			if _, err := seeded.RecipeOf(&ti); err != nil {
				return nil, nil, fmt.Errorf("%w: seeded weights: %w", ErrBadSpec, err)
			}
		}
	}
	count := &progressCounter{report: progress}
	for _, t := range typed {
		if drawn(t, w) {
			count.total += tensorBytes(t)
		}
	}
	for _, t := range typed {
		b.presetTensor(t, w, seed, count)
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	return b.w, notes, nil
}

func (b *builder) presetTensor(t preset.TypedTensor, w Weights, seed uint64, count *progressCounter) {
	switch {
	case w == WeightsZero || w == WeightsSeeded:
		b.keep(b.w.AddZeroTensor(t.Name, t.Type, t.Dims))
	case !drawn(t, w):
		b.ones(t.Name, int(t.Dims[0]))
	default:
		b.keep(b.w.AddTensor(t.Name, t.Type, t.Dims, func(out io.Writer) error {
			return writeTyped(count.wrap(out), t, streamSeed(seed, t.Name))
		}))
	}
}

// tensorBytes is t's size in its type (0 for a shape the type cannot hold:
// writing it fails with the reason).
func tensorBytes(t preset.TypedTensor) int64 {
	rb, err := t.Type.RowBytes(int64(t.Dims[0]))
	if err != nil {
		return 0
	}
	rows := int64(1)
	for _, d := range t.Dims[1:] {
		rows *= int64(d)
	}
	return rb * rows
}

// drawn reports whether t's weights are drawn at random (not zero, seeded
// or a norm of ones).
func drawn(t preset.TypedTensor, w Weights) bool {
	if w != WeightsRandom {
		return false
	}
	return !(len(t.Dims) == 1 && t.Role == quantize.RoleNorm && strings.HasSuffix(t.Name, "norm.weight"))
}

// progressCounter counts the drawn bytes written and reports them.
type progressCounter struct {
	done, total int64
	report      Progress
}

func (c *progressCounter) wrap(w io.Writer) io.Writer {
	if c.report == nil {
		return w
	}
	return countingWriter{w, c}
}

type countingWriter struct {
	w io.Writer
	c *progressCounter
}

func (cw countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.c.done += int64(n)
	cw.c.report(cw.c.done, cw.c.total)
	return n, err
}

// writeTyped draws a tensor's rows (uniform in ±1/sqrt(cols)) and encodes
// each in the tensor's type.
func writeTyped(w io.Writer, t preset.TypedTensor, seed uint64) error {
	codec, err := t.Type.Codec()
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	cols := int(t.Dims[0])
	rows := 1
	for _, d := range t.Dims[1:] {
		rows *= int(d)
	}
	rb, err := t.Type.RowBytes(int64(cols))
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	row := make([]float32, cols)
	enc := make([]byte, rb)
	rng := splitmix{seed}
	scale := float32(1 / math.Sqrt(float64(cols)))
	for range rows {
		rng.fill(row, scale)
		codec.Quantize(enc, row)
		if _, err := w.Write(enc); err != nil {
			return err
		}
	}
	return nil
}
