package quantize

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/gguf"
)

// quantizationVersion is ggml's GGML_QNT_VERSION, which llama.cpp writes as
// general.quantization_version.
const quantizationVersion = 2

// rowsPerChunk bounds how many rows are converted at once, so memory stays
// small whatever the tensor's size.
const rowsPerChunk = 256

// Options control a file rewrite.
type Options struct {
	Policy *Policy
	// Note, when set, receives a line for every tensor whose type fell back.
	Note func(string)
	// Progress, when set, is called after each tensor with the input bytes
	// done so far and in all.
	Progress func(done, total int64)
}

// Summary describes the file written.
type Summary struct {
	Tensors  int
	Elements int64
	Bytes    int64 // tensor data bytes
	ByType   map[kernels.DType]int
}

// BitsPerWeight is the average storage per element.
func (s Summary) BitsPerWeight() float64 { return float64(s.Bytes*8) / float64(s.Elements) }

// Rewrite reads the GGUF file in and writes out with every tensor converted
// to the type o.Policy gives it. Metadata is copied, with general.file_type
// and general.quantization_version set as llama.cpp sets them.
func Rewrite(ctx context.Context, in, out string, o Options) (Summary, error) {
	f, src, err := gguf.Open(in)
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", in, err)
	}
	defer src.Close()
	w, sum, err := plan(ctx, f, src, o)
	if err != nil {
		return Summary{}, err
	}
	if err := w.WriteFile(out); err != nil {
		return Summary{}, fmt.Errorf("%s: %w", out, err)
	}
	return sum, nil
}

// llamaCppName renames what llama.cpp would refuse to load: a "mistral"
// architecture (an older tabshard synth wrote it; llama.cpp's converter
// writes Mistral as "llama") and its "mistral." keys.
func llamaCppName(kv gguf.KV) gguf.KV {
	if kv.Key == "general.architecture" {
		if s, ok := kv.Value.AsString(); ok && s == "mistral" {
			return gguf.KV{Key: kv.Key, Value: gguf.String("llama")}
		}
	}
	if rest, ok := strings.CutPrefix(kv.Key, "mistral."); ok {
		kv.Key = "llama." + rest
	}
	return kv
}

// plan prepares a writer whose tensors convert lazily as they are written.
func plan(ctx context.Context, f *gguf.File, src io.ReaderAt, o Options) (*gguf.Writer, Summary, error) {
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		if kv.Key == "general.file_type" || kv.Key == "general.quantization_version" {
			continue
		}
		kv = llamaCppName(kv)
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return nil, Summary{}, err
		}
	}
	w.Add("general.quantization_version", gguf.Uint32(quantizationVersion))
	w.Add("general.file_type", gguf.Uint32(o.Policy.FileType))
	sum := Summary{ByType: map[kernels.DType]int{}}
	var total, done int64
	for _, t := range f.Tensors {
		total += t.Size
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		c := o.Policy.TypeFor(t.Name, t.Dims)
		if c.Note != "" && o.Note != nil {
			o.Note(c.Note)
		}
		conv := converter{ctx: ctx, f: f, src: src, t: t, to: c.Type, after: func() {
			done += t.Size
			if o.Progress != nil {
				o.Progress(done, total)
			}
		}}
		if err := w.AddTensor(t.Name, c.Type, t.Dims, conv.write); err != nil {
			return nil, Summary{}, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		rb, _ := c.Type.RowBytes(int64(t.Dims[0]))
		sum.Tensors++
		sum.Elements += t.Elements()
		sum.Bytes += rb * t.Rows()
		sum.ByType[c.Type]++
	}
	return w, sum, nil
}

// converter streams one tensor, converted to type to, a chunk of rows at a
// time.
type converter struct {
	ctx   context.Context
	f     *gguf.File
	src   io.ReaderAt
	t     *gguf.TensorInfo
	to    kernels.DType
	after func()
}

func (c *converter) write(w io.Writer) error {
	defer c.after()
	from, err := c.t.Type.Codec()
	if err != nil {
		return fmt.Errorf("tensor %s: %w", c.t.Name, err)
	}
	to, err := c.to.Codec()
	if err != nil {
		return fmt.Errorf("tensor %s: %w", c.t.Name, err)
	}
	cols := int(c.t.Dims[0])
	outRow, _ := c.to.RowBytes(int64(cols))
	inRow := c.t.RowBytes()
	vals := make([]float32, cols)
	out := make([]byte, outRow)
	for r := int64(0); r < c.t.Rows(); r += rowsPerChunk {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		end := min(r+rowsPerChunk, c.t.Rows())
		in, err := c.f.ReadRows(c.src, c.t, r, end)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", c.t.Name, err)
		}
		if c.t.Type == c.to {
			if _, err := w.Write(in); err != nil {
				return err
			}
			continue
		}
		for i := int64(0); i < end-r; i++ {
			from.Dequantize(vals, in[i*inRow:(i+1)*inRow])
			to.Quantize(out, vals)
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
	}
	return nil
}
