// Package model turns a GGUF file into a model tabshard can run: the
// architecture's configuration read from metadata and validated, the
// tokenizer, and the names of the tensors each transformer block needs.
// Subpackages hold the file format (gguf) and the tokenizers (tokenizer).
package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/model/gguf"
)

// Arch is a model family, as GGUF's general.architecture names it.
type Arch int

// The architectures tabshard runs. ArchUnknown is the zero value.
const (
	ArchUnknown Arch = iota
	ArchLlama
	ArchMistral
	ArchQwen2
)

var archNames = map[string]Arch{"llama": ArchLlama, "mistral": ArchMistral, "qwen2": ArchQwen2}

func (a Arch) String() string {
	for n, v := range archNames {
		if v == a {
			return n
		}
	}
	return "unknown"
}

// RopeStyle says which pairs of a head's dimensions RoPE rotates.
type RopeStyle int

// RoPE pairings. RopeUnknown is the zero value.
const (
	RopeUnknown RopeStyle = iota
	// RopeNormal rotates adjacent pairs (2i, 2i+1): llama, mistral.
	RopeNormal
	// RopeNeoX rotates pairs (i, i+rotDim/2): qwen2.
	RopeNeoX
)

// RopeScaling is Llama-3's frequency scaling ("llama3" rope type): long
// wavelengths are slowed by Factor, short ones kept, the band between
// interpolated.
type RopeScaling struct {
	Factor                float64
	LowFreqFactor         float64
	HighFreqFactor        float64
	OriginalContextLength int
}

// Config is the shape of a Llama-family model.
type Config struct {
	Arch          Arch
	Name          string
	Layers        int // transformer blocks
	Dim           int // embedding length
	FFNDim        int // feed-forward width
	Heads         int
	KVHeads       int
	HeadDim       int
	RopeDim       int // dimensions of each head that RoPE rotates
	Vocab         int
	ContextLength int
	NormEps       float32
	RopeBase      float64
	RopeStyle     RopeStyle
	// RopeScaling is nil when frequencies are not scaled.
	RopeScaling *RopeScaling
	// SlidingWindow caps attention to the last N positions; 0 means none.
	SlidingWindow int
	// QKVBias is true when Q, K and V projections carry a bias (qwen2).
	QKVBias bool
}

// Sentinel errors of configuration.
var (
	ErrUnknownArch = errors.New("unknown architecture")
	ErrBadConfig   = errors.New("invalid model configuration")
)

// KVDim is the width of one position's keys (or values) across KV heads.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// QDim is the width of one position's queries across heads.
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// ConfigFromGGUF reads and validates the configuration in f's metadata.
func ConfigFromGGUF(f *gguf.File) (*Config, error) {
	name, err := f.String("general.architecture")
	if err != nil {
		return nil, err
	}
	arch, ok := archNames[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (tabshard runs llama, mistral, qwen2)", ErrUnknownArch, name)
	}
	r := metaReader{f: f, prefix: name + "."}
	c := &Config{Arch: arch, RopeStyle: RopeNormal}
	c.Name, _ = f.String("general.name")
	c.Layers = r.int("block_count", -1)
	c.Dim = r.int("embedding_length", -1)
	c.FFNDim = r.int("feed_forward_length", -1)
	c.Heads = r.int("attention.head_count", -1)
	c.KVHeads = r.int("attention.head_count_kv", c.Heads)
	c.ContextLength = r.int("context_length", -1)
	if c.Heads > 0 {
		c.HeadDim = r.int("attention.key_length", c.Dim/c.Heads)
	}
	c.RopeDim = r.int("rope.dimension_count", c.HeadDim)
	c.NormEps = float32(r.float("attention.layer_norm_rms_epsilon", 1e-5))
	c.RopeBase = r.float("rope.freq_base", 10000)
	c.SlidingWindow = r.int("attention.sliding_window", 0)
	c.Vocab = r.int("vocab_size", 0)
	if c.Vocab == 0 {
		if toks, err := f.Strings("tokenizer.ggml.tokens"); err == nil {
			c.Vocab = len(toks)
		} else if t, ok := f.Tensor("token_embd.weight"); ok && len(t.Dims) == 2 {
			c.Vocab = int(t.Dims[1])
		}
	}
	if arch == ArchQwen2 {
		c.RopeStyle = RopeNeoX
		c.QKVBias = true
	}
	c.RopeScaling = r.ropeScaling()
	if r.err != nil {
		return nil, r.err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the configuration's fields against each other.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Arch == ArchUnknown:
		return bad("architecture unknown")
	case c.Layers <= 0 || c.Dim <= 0 || c.FFNDim <= 0 || c.Heads <= 0 || c.KVHeads <= 0:
		return bad("block_count %d, embedding_length %d, feed_forward_length %d, head_count %d, head_count_kv %d must all be positive",
			c.Layers, c.Dim, c.FFNDim, c.Heads, c.KVHeads)
	case c.Heads%c.KVHeads != 0:
		return bad("head_count %d is not a multiple of head_count_kv %d", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return bad("head dimension %d must be positive and even", c.HeadDim)
	case c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return bad("rope.dimension_count %d must be even and in 1..%d", c.RopeDim, c.HeadDim)
	case c.Vocab <= 0:
		return bad("vocabulary size %d", c.Vocab)
	case c.ContextLength <= 0:
		return bad("context_length %d", c.ContextLength)
	case c.SlidingWindow < 0:
		return bad("sliding_window %d", c.SlidingWindow)
	case !(c.NormEps > 0) || math.IsInf(float64(c.NormEps), 0):
		return bad("layer_norm_rms_epsilon %g", c.NormEps)
	case !(c.RopeBase > 1) || math.IsInf(c.RopeBase, 0):
		return bad("rope.freq_base %g", c.RopeBase)
	}
	if s := c.RopeScaling; s != nil {
		if !(s.Factor >= 1) || !(s.HighFreqFactor > s.LowFreqFactor) || s.LowFreqFactor <= 0 || s.OriginalContextLength <= 0 {
			return bad("rope scaling factor %g, low %g, high %g, original context %d", s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalContextLength)
		}
	}
	return nil
}

// metaReader reads architecture-prefixed keys, keeping the first error.
type metaReader struct {
	f      *gguf.File
	prefix string
	err    error
}

// int reads prefix+key; def < 0 means the key is required.
func (r *metaReader) int(key string, def int) int {
	v, err := r.f.Uint(r.prefix + key)
	switch {
	case errors.Is(err, gguf.ErrMissingKey) && def >= 0:
		return def
	case err != nil:
		r.keep(err)
		return 0
	case v > math.MaxInt32:
		r.keep(fmt.Errorf("%w: %s%s = %d is too large", ErrBadConfig, r.prefix, key, v))
		return 0
	}
	return int(v)
}

func (r *metaReader) float(key string, def float64) float64 {
	v, err := r.f.Float(r.prefix + key)
	if errors.Is(err, gguf.ErrMissingKey) {
		return def
	}
	r.keep(err)
	return v
}

func (r *metaReader) keep(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// ropeScaling reads Llama-3's scaling when rope.scaling.type is "llama3".
// Missing parameters take Llama-3.1's published values.
func (r *metaReader) ropeScaling() *RopeScaling {
	typ, err := r.f.String(r.prefix + "rope.scaling.type")
	if err != nil || typ != "llama3" {
		return nil
	}
	return &RopeScaling{
		Factor:                r.float("rope.scaling.factor", 8),
		LowFreqFactor:         r.float("rope.scaling.low_freq_factor", 1),
		HighFreqFactor:        r.float("rope.scaling.high_freq_factor", 4),
		OriginalContextLength: r.int("rope.scaling.original_context_length", 8192),
	}
}
