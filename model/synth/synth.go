// Package synth writes GGUF files of Llama-shaped models with seeded random
// weights and a synthetic SentencePiece-style vocabulary. Such a file is a
// real model as far as every reader is concerned — tabshard, llama.cpp, or
// llama2.c after conversion — so benchmarks and tests can run model shapes
// (stories110M, 7B-class layer widths) without downloading any weights.
// The output carries no meaning; only its shape and arithmetic are real.
//
// Files are written tensor by tensor from a generator: the whole model is
// never held in memory, only a buffer of a few rows.
package synth

import (
	"errors"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/gguf"
)

// ErrBadSpec is a Spec whose fields cannot make a model.
var ErrBadSpec = errors.New("synth: invalid model spec")

// Spec is the shape of a synthetic Llama model.
type Spec struct {
	Dim     int // embedding length
	Layers  int // transformer blocks
	Heads   int // query heads; the head size is Dim/Heads
	KVHeads int // key/value heads (grouped-query attention when < Heads)
	FFNDim  int // feed-forward width
	Vocab   int // tokens: 3 control, 256 byte tokens, the rest pieces
	Context int // context length
	// Type is the storage type of the 2-D weights: kernels.F32 (the zero
	// value) or kernels.F16. Norm weights are always F32, as ggml stores them.
	Type kernels.DType
	// Name is written as general.name; empty means "synth".
	Name string
	// Untied draws output.weight independently of token_embd.weight. When
	// false the classifier is tied: output.weight is written as an exact copy
	// of the embedding, as llama2.c's stories checkpoints have it.
	Untied bool
}

// Stories110M is the shape of llama2.c's stories110M: dim 768, 12 layers,
// 12 heads, hidden 2048, vocabulary 32000, context 1024, classifier tied to
// the embedding — about 110M parameters, 440 MB as F32.
var Stories110M = Spec{
	Dim: 768, Layers: 12, Heads: 12, KVHeads: 12, FFNDim: 2048,
	Vocab: 32000, Context: 1024, Name: "synth-stories110M",
}

// Tiny is a model small enough for unit tests: a few hundred kilobytes,
// with grouped-query attention.
var Tiny = Spec{
	Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 64,
	Vocab: 512, Context: 64, Name: "synth-tiny",
}

// MaxVocab bounds Spec.Vocab: the piece generator could go further, but no
// Llama-family model needs it.
const MaxVocab = 1 << 20

// Validate checks the spec's fields against each other.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Dim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.FFNDim <= 0 || s.Context <= 0:
		return bad("Dim %d, Layers %d, Heads %d, KVHeads %d, FFNDim %d and Context %d must all be positive",
			s.Dim, s.Layers, s.Heads, s.KVHeads, s.FFNDim, s.Context)
	case max(s.Dim, s.Layers, s.FFNDim, s.Context) > math.MaxInt32:
		return bad("Dim %d, Layers %d, FFNDim %d and Context %d must fit in 31 bits", s.Dim, s.Layers, s.FFNDim, s.Context)
	case s.Dim%s.Heads != 0:
		return bad("Dim %d is not a multiple of Heads %d", s.Dim, s.Heads)
	case (s.Dim/s.Heads)%2 != 0:
		return bad("head size %d (Dim/Heads) must be even for RoPE", s.Dim/s.Heads)
	case s.Heads%s.KVHeads != 0:
		return bad("Heads %d is not a multiple of KVHeads %d", s.Heads, s.KVHeads)
	case s.Vocab < firstPiece+1 || s.Vocab > MaxVocab:
		return bad("Vocab %d must be in %d..%d (3 control and 256 byte tokens come first)", s.Vocab, firstPiece+1, MaxVocab)
	case s.Type != kernels.F32 && s.Type != kernels.F16:
		return bad("Type %v: only F32 and F16 are written", s.Type)
	}
	return nil
}

// Params is the number of weights in the model, counting a tied classifier
// once.
func (s Spec) Params() int64 {
	d, f, kv := int64(s.Dim), int64(s.FFNDim), int64(s.Dim/s.Heads*s.KVHeads)
	perLayer := 2*d*d + 2*d*kv + 3*d*f + 2*d
	n := int64(s.Layers)*perLayer + int64(s.Vocab)*d + d
	if s.Untied {
		n += int64(s.Vocab) * d
	}
	return n
}

// Write writes the GGUF file of s at path, its weights drawn from seed: the
// same spec and seed always give the same bytes. On error no file is left.
func Write(path string, s Spec, seed uint64) error {
	w, err := NewWriter(s, seed)
	if err != nil {
		return err
	}
	return w.WriteFile(path)
}

// NewWriter returns a gguf.Writer loaded with the model of s: its metadata,
// vocabulary and tensors, whose data is generated as the file is written.
// Callers may add metadata before writing.
func NewWriter(s Spec, seed uint64) (*gguf.Writer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := builder{w: gguf.NewWriter()}
	b.config(s)
	b.vocab(s.Vocab)
	b.tensors(s, seed)
	if b.err != nil {
		return nil, b.err
	}
	return b.w, nil
}

// builder adds to a gguf.Writer, keeping the first error.
type builder struct {
	w   *gguf.Writer
	err error
}

func (b *builder) add(key string, v gguf.Value) { b.keep(b.w.Add(key, v)) }

func (b *builder) keep(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func (b *builder) config(s Spec) {
	name := s.Name
	if name == "" {
		name = "synth"
	}
	fileType := uint32(0) // ggml's LLAMA_FTYPE_ALL_F32
	if s.Type == kernels.F16 {
		fileType = 1 // LLAMA_FTYPE_MOSTLY_F16
	}
	b.add("general.architecture", gguf.String("llama"))
	b.add("general.name", gguf.String(name))
	b.add("general.file_type", gguf.Uint32(fileType))
	b.add("llama.tensor_data_layout", gguf.String("Meta AI original pth"))
	b.add("llama.context_length", gguf.Uint32(uint32(s.Context)))
	b.add("llama.embedding_length", gguf.Uint32(uint32(s.Dim)))
	b.add("llama.block_count", gguf.Uint32(uint32(s.Layers)))
	b.add("llama.feed_forward_length", gguf.Uint32(uint32(s.FFNDim)))
	b.add("llama.rope.dimension_count", gguf.Uint32(uint32(s.Dim/s.Heads)))
	b.add("llama.attention.head_count", gguf.Uint32(uint32(s.Heads)))
	b.add("llama.attention.head_count_kv", gguf.Uint32(uint32(s.KVHeads)))
	b.add("llama.attention.layer_norm_rms_epsilon", gguf.Float32(1e-5))
}
