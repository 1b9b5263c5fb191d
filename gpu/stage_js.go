//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// Options configure a GPU stage.
type Options struct {
	// Device is the device to use; nil opens one.
	Device *Device
	// Source is the reader the model was loaded from (a file, or HTTP
	// Range requests in a tab); tensors are streamed from it in pieces.
	// Nil reads through the model when it can (see RowsOf).
	Source io.ReaderAt
	// MaxBatch is the most positions one submission runs (activation
	// buffers are sized for it); longer calls are split. Zero means 64.
	MaxBatch int
	// MaxChunkBytes caps a weight chunk below the device's binding limit
	// (tests use it to get several chunks); zero means no cap.
	MaxChunkBytes int64
	// MatMulMin is the batch from which the tiled matmul replaces the
	// matvec; zero means 4.
	MatMulMin int
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.MatMulMin <= 0 {
		o.MatMulMin = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Loader returns the agent.Loader of the WebGPU backend: it opens the
// device on first use (unless opts.Device is set) and keeps it for later
// stages.
func Loader(opts Options) agent.Loader {
	return func(ctx context.Context, m *model.Model, r worker.Range) (agent.Compute, error) {
		if opts.Device == nil {
			d, err := Open(ctx, opts.Logger)
			if err != nil {
				return nil, err
			}
			opts.Device = d
		}
		return NewStage(ctx, m, r, opts)
	}
}

// block holds one transformer block's weights on the GPU.
type block struct {
	attnNorm, ffnNorm   *Buffer
	q, k, v, o          *Weights
	qBias, kBias, vBias *Buffer
	gate, up, down      *Weights
}

// Stage runs a range of a model's layers on the GPU. It implements
// agent.Compute, with the arithmetic of worker.Stage to float32 rounding.
// Its methods must not be called concurrently.
type Stage struct {
	d       *Device
	cfg     model.Config
	rng     worker.Range
	opt     Options
	embed   *Weights
	blocks  []block
	outNorm *Buffer
	output  *Weights
	freqs   []float32
	scale   float32

	step                                     *Buffer
	x, xb, q, k, v, att, hb, hb2, logits, cs *Buffer
	tokens, picks, coins                     *Buffer
	ops                                      *Ops
	embedProg, headProg, greedyProg          *Program
	owned                                    []*Buffer
	weights                                  []*Weights
	decodeTimes                              stepTimes
	prepared                                 int // decoding steps recorded ahead
}

var _ agent.Compute = (*Stage)(nil)

// NewStage uploads the weights of r from m to the device, tensor by
// tensor in row chunks.
func NewStage(ctx context.Context, m *model.Model, r worker.Range, opts Options) (*Stage, error) {
	opts.defaults()
	c := m.Config
	if r.Begin < 0 || r.End > c.Layers || r.Begin > r.End || (r.Begin == r.End && !r.First && !r.Last) {
		return nil, fmt.Errorf("%w: blocks [%d,%d) of %d", worker.ErrRange, r.Begin, r.End, c.Layers)
	}
	if opts.Device == nil {
		return nil, fmt.Errorf("%w: no device", ErrNoWebGPU)
	}
	s := &Stage{d: opts.Device, cfg: *c, rng: r, opt: opts, scale: float32(math.Sqrt(float64(c.HeadDim)))}
	rows, err := RowsOf(m, opts.Source)
	if _, seeded := m.Seeded(); seeded {
		err = nil // its weights are made in place, not read
	}
	if err == nil {
		err = s.load(ctx, m, rows)
	}
	if err == nil {
		err = s.allocate()
	}
	if err == nil {
		err = s.d.Err()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close frees the stage's GPU memory.
func (s *Stage) Close() {
	for _, w := range s.weights {
		w.Destroy()
	}
	for _, b := range s.owned {
		b.Destroy()
	}
	if s.ops != nil {
		s.ops.Destroy()
	}
	s.weights, s.owned = nil, nil
}

func (s *Stage) load(ctx context.Context, m *model.Model, rows Rows) error {
	c := &s.cfg
	var err error
	mat := func(name string, r, cols int) *Weights {
		if err != nil {
			return nil
		}
		var w *Weights
		if _, gen := m.Seeded(); gen { // made in place: nothing to read or upload
			w, err = s.d.GenerateWeights(ctx, m, name, r, cols, s.opt.MaxChunkBytes)
		} else {
			w, err = s.d.LoadWeights(ctx, m, rows, name, r, cols, s.opt.MaxChunkBytes)
		}
		if w != nil {
			s.weights = append(s.weights, w)
		}
		return w
	}
	vec := func(name string, n int) *Buffer {
		if err != nil {
			return nil
		}
		var v []float32
		if v, err = m.Vector(name, n); err != nil {
			return nil
		}
		return s.upload(v, &err)
	}
	if s.rng.First {
		s.embed = mat("token_embd.weight", c.Vocab, c.Dim)
	}
	for i := s.rng.Begin; i < s.rng.End; i++ {
		b := block{
			attnNorm: vec(model.BlockTensor(i, "attn_norm.weight"), c.Dim),
			ffnNorm:  vec(model.BlockTensor(i, "ffn_norm.weight"), c.Dim),
			q:        mat(model.BlockTensor(i, "attn_q.weight"), c.QDim(), c.Dim),
			k:        mat(model.BlockTensor(i, "attn_k.weight"), c.KVDim(), c.Dim),
			v:        mat(model.BlockTensor(i, "attn_v.weight"), c.KVDim(), c.Dim),
			o:        mat(model.BlockTensor(i, "attn_output.weight"), c.Dim, c.QDim()),
			gate:     mat(model.BlockTensor(i, "ffn_gate.weight"), c.FFNDim, c.Dim),
			up:       mat(model.BlockTensor(i, "ffn_up.weight"), c.FFNDim, c.Dim),
			down:     mat(model.BlockTensor(i, "ffn_down.weight"), c.Dim, c.FFNDim),
		}
		if c.QKVBias {
			b.qBias = vec(model.BlockTensor(i, "attn_q.bias"), c.QDim())
			b.kBias = vec(model.BlockTensor(i, "attn_k.bias"), c.KVDim())
			b.vBias = vec(model.BlockTensor(i, "attn_v.bias"), c.KVDim())
		}
		s.blocks = append(s.blocks, b)
		if err != nil {
			return err
		}
	}
	if s.rng.Last {
		s.outNorm = vec("output_norm.weight", c.Dim)
		switch {
		case m.Has("output.weight"):
			s.output = mat("output.weight", c.Vocab, c.Dim)
		case s.embed != nil:
			s.output = s.embed // tied, and already here
		default:
			s.output = mat("token_embd.weight", c.Vocab, c.Dim)
		}
	}
	if err != nil {
		return err
	}
	return s.loadRope(m)
}

// upload makes a buffer of v, recording the first error in *err.
func (s *Stage) upload(v []float32, err *error) *Buffer {
	b := s.buffer(len(v), err)
	if b != nil {
		s.d.WriteF32(b, 0, v)
	}
	return b
}

// buffer allocates a storage buffer of n floats owned by the stage.
func (s *Stage) buffer(n int, err *error) *Buffer {
	if *err != nil {
		return nil
	}
	b, e := s.d.NewStorage(4 * int64(max(n, 4)))
	if e != nil {
		*err = e
		return nil
	}
	s.owned = append(s.owned, b)
	return b
}

// loadRope computes the RoPE frequencies as worker.Stage does.
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
	s.freqs = kernels.RopeFreqs(c.RopeDim, c.RopeBase, factors)
	if sc := c.RopeScaling; sc != nil && factors == nil {
		kernels.Llama3Scale(s.freqs, sc.Factor, sc.LowFreqFactor, sc.HighFreqFactor, sc.OriginalContextLength)
	}
	return nil
}

// allocate makes the activation buffers, sized for MaxBatch positions.
func (s *Stage) allocate() error {
	c := &s.cfg
	n := s.opt.MaxBatch
	var err error
	s.step, err = s.d.NewUniform(16)
	if err != nil {
		return err
	}
	s.owned = append(s.owned, s.step)
	s.x = s.buffer(n*c.Dim, &err)
	s.xb = s.buffer(n*c.Dim, &err)
	s.tokens = s.buffer(n, &err)
	if len(s.blocks) > 0 {
		s.q = s.buffer(n*c.QDim(), &err)
		s.k = s.buffer(n*c.KVDim(), &err)
		s.v = s.buffer(n*c.KVDim(), &err)
		s.att = s.buffer(n*c.QDim(), &err)
		s.hb = s.buffer(n*c.FFNDim, &err)
		s.hb2 = s.buffer(n*c.FFNDim, &err)
		s.cs = s.buffer(n*len(s.freqs)*2, &err)
	}
	if s.rng.Last {
		s.logits = s.buffer(n*c.Vocab, &err)
		s.picks = s.buffer(n, &err)
		s.coins = s.buffer(n, &err)
	}
	s.ops = s.d.NewOps(s.step)
	s.ops.Batch = n
	return err
}

// Config is the model configuration the stage runs.
func (s *Stage) Config() *model.Config { return &s.cfg }

// Range is the share of the model the stage holds.
func (s *Stage) Range() worker.Range { return s.rng }

// Device is the device the stage runs on.
func (s *Stage) Device() *Device { return s.d }

// WeightBytes is the GPU memory the stage's weights take.
func (s *Stage) WeightBytes() int64 {
	var n int64
	for _, w := range s.weights {
		n += w.Bytes()
	}
	return n
}
