// Package worker is the shard runtime: a Stage runs a contiguous range of a
// model's transformer blocks on the CPU, owns their KV cache, and (on the
// first stage) embeds tokens or (on the last) produces logits. A Pipeline
// chains stages in one process; the same Stage runs behind a network link
// in a worker process or a browser tab.
package worker

import (
	"errors"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
)

// Sentinel errors of the runtime.
var (
	ErrRange    = errors.New("bad layer range")
	ErrPosition = errors.New("position out of range")
	ErrShape    = errors.New("activation shape mismatch")
)

// Range is a stage's share of a model: transformer blocks [Begin, End),
// plus the token embedding when First and the final norm and output head
// when Last.
type Range struct {
	Begin, End  int
	First, Last bool
}

// Whole is the range of an unsharded model of n blocks.
func Whole(n int) Range { return Range{Begin: 0, End: n, First: true, Last: true} }

// block holds one transformer block's weights.
type block struct {
	attnNorm, ffnNorm   []float32
	q, k, v, o          *kernels.Matrix
	qBias, kBias, vBias []float32
	gate, up, down      *kernels.Matrix
}

// Stage runs its Range of a model for a sequence of positions.
type Stage struct {
	cfg       model.Config
	rng       Range
	embed     *kernels.Matrix
	blocks    []block
	outNorm   []float32
	output    *kernels.Matrix
	rope      kernels.Rope
	attnScale float32
}

// NewStage loads the weights of r from m.
func NewStage(m *model.Model, r Range) (*Stage, error) {
	c := m.Config
	if r.Begin < 0 || r.End > c.Layers || r.Begin > r.End || (r.Begin == r.End && !r.First && !r.Last) {
		return nil, fmt.Errorf("%w: blocks [%d,%d) of %d", ErrRange, r.Begin, r.End, c.Layers)
	}
	s := &Stage{cfg: *c, rng: r, attnScale: float32(math.Sqrt(float64(c.HeadDim)))}
	if err := s.load(m); err != nil {
		return nil, err
	}
	return s, nil
}

// Options size the state of one sequence on a stage.
type Options struct {
	// Positions is how many positions the sequence can run (at most the
	// model's context length).
	Positions int
	// KV says how the KV cache stores entries. A zero Window takes the
	// model's sliding window; a positive one imposes a sliding window.
	KV KVOptions
}

// NewKV allocates the KV cache of one sequence on this stage.
func (s *Stage) NewKV(o Options) (*KVCache, error) {
	c := &s.cfg
	if o.Positions <= 0 || o.Positions > c.ContextLength {
		return nil, fmt.Errorf("%w: %d positions (context length %d)", ErrPosition, o.Positions, c.ContextLength)
	}
	if o.KV.Window < 0 {
		return nil, fmt.Errorf("%w: sliding window %d", ErrPosition, o.KV.Window)
	}
	if o.KV.Window == 0 {
		o.KV.Window = c.SlidingWindow
	}
	return NewKVCache(c, s.rng.End-s.rng.Begin, o.Positions, o.KV)
}

func (s *Stage) load(m *model.Model) error {
	c := &s.cfg
	var err error
	if s.rng.First {
		if s.embed, err = m.Matrix("token_embd.weight", c.Vocab, c.Dim); err != nil {
			return err
		}
	}
	for i := s.rng.Begin; i < s.rng.End; i++ {
		b, err := loadBlock(m, i)
		if err != nil {
			return err
		}
		s.blocks = append(s.blocks, b)
	}
	if s.rng.Last {
		if err := s.loadHead(m); err != nil {
			return err
		}
	}
	return s.loadRope(m)
}

func (s *Stage) loadHead(m *model.Model) error {
	c := &s.cfg
	var err error
	if s.outNorm, err = m.Vector("output_norm.weight", c.Dim); err != nil {
		return err
	}
	name := "output.weight"
	if !m.Has(name) {
		name = "token_embd.weight" // tied to the embedding
	}
	s.output, err = m.Matrix(name, c.Vocab, c.Dim)
	return err
}

// loadRope computes the RoPE frequencies, scaled by the file's rope_freqs
// factors or by Llama-3's rule.
func (s *Stage) loadRope(m *model.Model) error {
	c := &s.cfg
	var factors []float32
	if m.Has("rope_freqs.weight") {
		f, err := m.Vector("rope_freqs.weight", c.RopeDim/2)
		if err != nil {
			return err
		}
		factors = f
	}
	s.rope = kernels.Rope{Freqs: kernels.RopeFreqs(c.RopeDim, c.RopeBase, factors), NeoX: c.RopeStyle == model.RopeNeoX}
	if sc := c.RopeScaling; sc != nil && factors == nil {
		kernels.Llama3Scale(s.rope.Freqs, sc.Factor, sc.LowFreqFactor, sc.HighFreqFactor, sc.OriginalContextLength)
	}
	return nil
}

func loadBlock(m *model.Model, i int) (block, error) {
	c := m.Config
	var b block
	var err error
	mat := func(name string, rows, cols int) *kernels.Matrix {
		if err != nil {
			return nil
		}
		var x *kernels.Matrix
		x, err = m.Matrix(model.BlockTensor(i, name), rows, cols)
		return x
	}
	vec := func(name string, n int) []float32 {
		if err != nil {
			return nil
		}
		var v []float32
		v, err = m.Vector(model.BlockTensor(i, name), n)
		return v
	}
	b.attnNorm = vec("attn_norm.weight", c.Dim)
	b.ffnNorm = vec("ffn_norm.weight", c.Dim)
	b.q = mat("attn_q.weight", c.QDim(), c.Dim)
	b.k = mat("attn_k.weight", c.KVDim(), c.Dim)
	b.v = mat("attn_v.weight", c.KVDim(), c.Dim)
	b.o = mat("attn_output.weight", c.Dim, c.QDim())
	b.gate = mat("ffn_gate.weight", c.FFNDim, c.Dim)
	b.up = mat("ffn_up.weight", c.FFNDim, c.Dim)
	b.down = mat("ffn_down.weight", c.Dim, c.FFNDim)
	if c.QKVBias {
		b.qBias = vec("attn_q.bias", c.QDim())
		b.kBias = vec("attn_k.bias", c.KVDim())
		b.vBias = vec("attn_v.bias", c.KVDim())
	}
	return b, err
}

// Config is the model configuration the stage runs.
func (s *Stage) Config() *model.Config { return &s.cfg }

// Range is the share of the model the stage holds.
func (s *Stage) Range() Range { return s.rng }

// Embed writes the embeddings of tokens into x (len(tokens)×Dim).
func (s *Stage) Embed(x []float32, tokens []int) error {
	if !s.rng.First {
		return fmt.Errorf("%w: stage [%d,%d) holds no embedding", ErrRange, s.rng.Begin, s.rng.End)
	}
	d := s.cfg.Dim
	if len(x) != len(tokens)*d {
		return fmt.Errorf("%w: %d values for %d tokens of %d", ErrShape, len(x), len(tokens), d)
	}
	for i, t := range tokens {
		if t < 0 || t >= s.cfg.Vocab {
			return fmt.Errorf("token %d out of vocabulary [0,%d)", t, s.cfg.Vocab)
		}
		s.embed.DequantizeRow(x[i*d:(i+1)*d], t)
	}
	return nil
}

// Logits writes the logits of each of the n hidden states in x (n×Dim)
// into out (n×Vocab). x is overwritten by the final norm.
func (s *Stage) Logits(out, x []float32, n int) error {
	if !s.rng.Last {
		return fmt.Errorf("%w: stage [%d,%d) holds no output head", ErrRange, s.rng.Begin, s.rng.End)
	}
	d := s.cfg.Dim
	if len(x) != n*d || len(out) != n*s.cfg.Vocab {
		return fmt.Errorf("%w: %d hidden and %d logit values for %d positions", ErrShape, len(x), len(out), n)
	}
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		kernels.RMSNorm(row, row, s.outNorm, s.cfg.NormEps)
	}
	s.output.MatMul(out, x, n)
	return nil
}
