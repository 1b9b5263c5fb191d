//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
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
	// A worker's stage gets the plan's prefill batch (Loader). NewStage
	// lowers it to what the device's binding limit allows of each
	// activation buffer (MaxBatchFor).
	MaxBatch int
	// MaxChunkBytes caps a weight chunk below the device's binding limit
	// (tests use it to get several chunks); zero means no cap.
	MaxChunkBytes int64
	// MatMulMin is the batch from which the tiled matmul replaces the
	// matvec; zero means 4.
	MatMulMin int
	// Unfused records a layer as it was before fusion (measurements):
	// q, k, v, gate and up as matrices apart, RMSNorm, SwiGLU and the
	// planar layout of x as dispatches of their own.
	Unfused bool
	// RopeApart records RoPE and the KV store as a dispatch of their own
	// before split attention's first pass, as a decoded layer was before
	// the pass took their work over (measurements: ten dispatches a
	// layer instead of nine). Unfused implies it.
	RopeApart bool
	// HeadApart leaves a last stage's final norm, output head and argmax
	// to Greedy's own submission (measurements): by default a decoding
	// step whose previous output went to Greedy runs them in its command
	// buffer and reads the pick back with the output (headAhead).
	HeadApart bool
	// EmbedApart makes EmbedForward a first stage's Embed then Forward
	// (measurements): by default a decoding step looks its token up in
	// its own command buffer.
	EmbedApart bool
	// OnePassPrefill records a prefill's attention as before split
	// attention served it (measurements): one pass, a workgroup per
	// (position, head) walking every key the position sees.
	OnePassPrefill bool
	// PrefillHeadsPerWorkgroup, when positive, is how many query heads of
	// a KV head a workgroup of prefill's split attention takes (1: one, as
	// decoding's; measurements); zero takes the most the device's
	// workgroup memory holds (Device.AttentionGroup). It must divide the
	// query heads a KV head serves.
	PrefillHeadsPerWorkgroup int
	// PrefillPartBytes caps the buffer of a prefill's split attention
	// partials (tests use it to get several passes); zero means 64 MiB
	// (see prefillPartBytes).
	PrefillPartBytes int64
	// BatchKernel is the batched matvec kernel the stage's batches and
	// prefill run (wgsl.BatchTile by default; wgsl.BatchRows for A/B
	// measurements): either gives each vector the matvec's result bit
	// for bit.
	BatchKernel wgsl.BatchKernel
	Logger      *slog.Logger
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

// SetApart turns on the measurement switches named in list, separated by
// commas: unfused (Unfused), rope (RopeApart), head (HeadApart), embed
// (EmbedApart). The Node tab worker reads TABSHARD_GPU_APART with it, so
// that one device call compares the pipeline with and without a fusion.
func (o *Options) SetApart(list string) error {
	for name := range strings.SplitSeq(list, ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "unfused":
			o.Unfused = true
		case "rope":
			o.RopeApart = true
		case "head":
			o.HeadApart = true
		case "embed":
			o.EmbedApart = true
		default:
			return fmt.Errorf("%w: %q is none of unfused, rope, head, embed", ErrOption, name)
		}
	}
	return nil
}

// splitPositions is the most positions a split attention dispatch takes:
// runs shorter than MatMulMin (and MaxBatch).
func (o *Options) splitPositions() int { return max(min(o.MatMulMin-1, o.MaxBatch), 1) }

// ropeFolded says whether decoding's split attention does RoPE's work
// (Ops.AttentionSplitRope): unless Unfused or RopeApart, where the
// device's workgroup memory holds the new keys of a run.
func (s *Stage) ropeFolded() bool {
	return !s.opt.Unfused && !s.opt.RopeApart && s.ops.RopeFits(s.cfg.HeadDim, s.opt.splitPositions())
}

// Loader returns the agent.Loader of the WebGPU backend: it opens the
// device on first use (unless opts.Device is set) and keeps it for later
// stages. The plan's prefill batch, when it names one, is the stage's
// MaxBatch (capped where the device cannot bind that many positions'
// activations: see NewStage).
func Loader(opts Options) agent.Loader {
	return func(ctx context.Context, m *model.Model, r worker.Range, batch int) (agent.Compute, error) {
		if opts.Device == nil {
			d, err := Open(ctx, opts.Logger)
			if err != nil {
				return nil, err
			}
			opts.Device = d
		}
		o := opts
		if batch > 0 {
			o.MaxBatch = batch
		}
		return NewStage(ctx, m, r, o)
	}
}

// block holds one transformer block's weights on the GPU.
type block struct {
	attnNorm, ffnNorm *Buffer
	qkv               stack // q, k and v: one vector of QDim + 2 KVDim per position
	qkvBias           *Buffer
	o                 *Weights
	gateUp            stack // gate and up: 2 FFNDim per position
	down              *Weights
}

// stack is matrices that read one input and whose outputs go side by side
// in one vector: one matrix of their stacked rows where the tensors allow
// it (one matvec instead of several), else each apart, at its offset.
type stack struct {
	ws   []*Weights
	offs []int
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

	step                               *Buffer
	x, xb, qkv, q, att, hb, logits, cs *Buffer
	prefillPart                        *Buffer // a prefill's split attention partials (nil: one-pass)
	attnGroup                          int     // query heads a workgroup of prefill's split attention takes
	tokens, picks, coins               *Buffer
	ops                                *Ops
	embedProg, headProg, greedyProg    *Program
	owned                              []*Buffer
	weights                            []*Weights
	decodeTimes                        stepTimes
	batchProgs                         []batchLayer // ForwardBatch's, recorded on first use
	batchPass                          *Pass
	prepared                           int // decoding steps recorded ahead
	ahead                              aheadStep
	headsAhead                         int    // decoding steps that ran the head too
	stepOut                            []byte // a decoding step's readback
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
	if most := MaxBatchFor(opts.Device.Limits, c, r); opts.MaxBatch > most {
		opts.Logger.Warn("prefill batch lowered to what the device binds", "asked", opts.MaxBatch, "batch", most,
			"binding_limit", min(opts.Device.Limits.MaxStorageBufferBindingSize, opts.Device.Limits.MaxBufferSize))
		opts.MaxBatch = most
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
	stacked := func(parts []Part, cols int) stack {
		var st stack
		if err != nil {
			return st
		}
		if !s.opt.Unfused && Stackable(m, parts, cols) {
			var w *Weights
			if _, gen := m.Seeded(); gen {
				w, err = s.d.GenerateStacked(ctx, m, parts, cols, s.opt.MaxChunkBytes)
			} else {
				w, err = s.d.LoadStacked(ctx, m, rows, parts, cols, s.opt.MaxChunkBytes)
			}
			if w != nil {
				s.weights = append(s.weights, w)
			}
			return stack{ws: []*Weights{w}, offs: []int{0}}
		}
		off := 0
		for _, p := range parts {
			st.ws, st.offs = append(st.ws, mat(p.Name, p.Rows, cols)), append(st.offs, off)
			off += p.Rows
		}
		return st
	}
	for i := s.rng.Begin; i < s.rng.End; i++ {
		t := func(name string) string { return model.BlockTensor(i, name) }
		b := block{
			attnNorm: vec(t("attn_norm.weight"), c.Dim),
			ffnNorm:  vec(t("ffn_norm.weight"), c.Dim),
			qkv:      stacked([]Part{{t("attn_q.weight"), c.QDim()}, {t("attn_k.weight"), c.KVDim()}, {t("attn_v.weight"), c.KVDim()}}, c.Dim),
			o:        mat(t("attn_output.weight"), c.Dim, c.QDim()),
			gateUp:   stacked([]Part{{t("ffn_gate.weight"), c.FFNDim}, {t("ffn_up.weight"), c.FFNDim}}, c.Dim),
			down:     mat(t("ffn_down.weight"), c.Dim, c.FFNDim),
		}
		if c.QKVBias {
			b.qkvBias = s.qkvBias(m, i, &err)
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

// qkvBias uploads block i's q, k and v biases side by side, recording
// the first error in *err.
func (s *Stage) qkvBias(m *model.Model, i int, err *error) *Buffer {
	c := &s.cfg
	var all []float32
	for _, p := range []Part{{"attn_q.bias", c.QDim()}, {"attn_k.bias", c.KVDim()}, {"attn_v.bias", c.KVDim()}} {
		if *err != nil {
			return nil
		}
		var v []float32
		v, *err = m.Vector(model.BlockTensor(i, p.Name), p.Rows)
		all = append(all, v...)
	}
	return s.upload(all, err)
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
		s.qkv = s.buffer(n*(c.QDim()+2*c.KVDim()), &err)
		s.q = s.buffer(n*c.QDim(), &err)
		s.att = s.buffer(n*c.QDim(), &err)
		s.hb = s.buffer(n*2*c.FFNDim, &err)
		s.cs = s.buffer(n*len(s.freqs)*2, &err)
		if size := s.prefillPartBytes(); size > 0 && err == nil {
			s.prefillPart = s.buffer(int(size/4), &err)
			s.attnGroup = s.d.AttentionGroup(c.Heads, c.KVHeads, c.HeadDim)
			if g := s.opt.PrefillHeadsPerWorkgroup; g > 0 {
				if per := c.Heads / c.KVHeads; per%g != 0 || g > wgsl.MaxAttentionGroup {
					return fmt.Errorf("%w: %d heads a workgroup for %d query heads a KV head", ErrLimits, g, per)
				}
				s.attnGroup = g
			}
		}
	}
	if s.rng.Last {
		s.logits = s.buffer(n*c.Vocab, &err)
		s.picks = s.buffer(n, &err)
		s.coins = s.buffer(n, &err)
	}
	s.ops = s.d.NewOps(s.step)
	s.ops.Batch = n
	s.ops.BatchKernel = s.opt.BatchKernel
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

// MaxBatch is the most positions one submission runs.
func (s *Stage) MaxBatch() int { return s.opt.MaxBatch }

// MaxBatchFor is the most positions a stage of r can run a submission on
// a device of limits: each activation buffer is one binding of MaxBatch
// rows (the largest the last stage's logits or the feed-forward halves),
// as the planner's prefill batch reckons (planner.MaxPrefillBatch).
func MaxBatchFor(l Limits, c *model.Config, r worker.Range) int {
	row := max(c.Dim, c.QDim()+2*c.KVDim(), 2*c.FFNDim)
	if r.Last {
		row = max(row, c.Vocab)
	}
	return int(max(1, min(l.MaxStorageBufferBindingSize, l.MaxBufferSize)/(4*int64(row))))
}
