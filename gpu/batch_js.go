//go:build js && wasm

package gpu

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// A batched forward pass runs several sequences' positions as one: the
// matrices, norms and SwiGLU over all their rows at once (the batched
// matvec reading each weight unit once for up to 16 rows), RoPE and
// attention per sequence over its own KV cache. Each piece is recorded
// once and the pass assembled per call: per layer the stage's pre (norm,
// q/k/v) and post programs (output projection to the down projection),
// and between them each sequence's attention program, recorded with its
// KV's own Step uniform (its positions, count and first row). A row's
// arithmetic is what a batch of its sequence alone computes, whatever
// runs beside it (batch invariance).

var _ agent.Batcher = (*Stage)(nil)

// batchLayer is one block's programs around attention.
type batchLayer struct{ pre, post *Program }

// kvBatch is what a KV cache needs to run in batches: its Step uniform
// and its attention programs per block, split attention (few positions)
// and one-pass.
type kvBatch struct {
	step          *Buffer
	ops           *Ops
	split, single []*Program
}

func (b *kvBatch) release() {
	if b == nil {
		return
	}
	b.step.Destroy()
	b.ops.Destroy()
}

// batchRun is one sequence's share of a submission.
type batchRun struct {
	kv       *KV
	pos, n   int
	row      int // first row in the batch
	xoff     int // first value in the caller's x
	splitAtt bool
}

// ForwardBatch runs the steps' positions through the stage's blocks, x
// holding each step's N hidden states in turn (ΣN×Dim values, updated in
// place), in as few submissions as MaxBatch rows allow. Each step's keys
// and values go to its KV, which appears at most once. A row's result is
// bit for bit what Forward-by-batch of its sequence alone gives.
func (s *Stage) ForwardBatch(steps []agent.Step, x []float32) error {
	runs, err := s.checkBatch(steps, x)
	if err != nil {
		return err
	}
	if len(s.blocks) == 0 {
		return nil
	}
	ctx := context.Background()
	if len(runs) == 1 && runs[0].n == 1 {
		// One sequence's decoding step: Forward's program, whose command
		// buffer was most likely recorded while the stage waited (the
		// same arithmetic: TestForwardBatchInvariance).
		return s.forward(ctx, runs[0].kv, x, runs[0].pos, 1)
	}
	for len(runs) > 0 {
		k, rows := 0, 0
		for k < len(runs) && rows+runs[k].n <= s.opt.MaxBatch && !s.inBatch(runs[:k], runs[k].kv) {
			runs[k].row = rows
			rows += runs[k].n
			k++
		}
		if err := s.forwardBatch(ctx, runs[:k], rows, x); err != nil {
			return err
		}
		runs = runs[k:]
	}
	return nil
}

func (s *Stage) inBatch(runs []batchRun, kv *KV) bool {
	for _, r := range runs {
		if r.kv == kv {
			return true
		}
	}
	return false
}

// checkBatch validates the steps and cuts them into runs of at most
// MaxBatch positions (a windowed cache's, of maxChunk).
func (s *Stage) checkBatch(steps []agent.Step, x []float32) ([]batchRun, error) {
	c := &s.cfg
	var runs []batchRun
	seen := map[*KV]bool{}
	off := 0
	for _, st := range steps {
		kv, ok := st.KV.(*KV)
		if !ok || kv.s != s {
			return nil, fmt.Errorf("%w: KV cache of another backend or stage", worker.ErrShape)
		}
		if len(kv.k) != len(s.blocks) {
			return nil, fmt.Errorf("%w: KV cache of %d blocks for a stage of %d", worker.ErrShape, len(kv.k), len(s.blocks))
		}
		if seen[kv] {
			return nil, fmt.Errorf("%w: one KV cache twice in a batch", worker.ErrShape)
		}
		seen[kv] = true
		if st.N <= 0 || st.Pos < 0 || st.Pos+st.N > kv.positions {
			return nil, fmt.Errorf("%w: positions [%d,%d) with room for %d", worker.ErrPosition, st.Pos, st.Pos+st.N, kv.positions)
		}
		limit := s.opt.MaxBatch
		if kv.window > 0 {
			limit = min(limit, maxChunk)
		}
		for i := 0; i < st.N; i += limit {
			n := min(limit, st.N-i)
			runs = append(runs, batchRun{kv: kv, pos: st.Pos + i, n: n, xoff: (off + i) * c.Dim,
				splitAtt: n < s.opt.MatMulMin && kv.part != nil}) // as Forward decides per piece
		}
		off += st.N
	}
	if len(x) != off*c.Dim {
		return nil, fmt.Errorf("%w: %d values for %d positions of %d", worker.ErrShape, len(x), off, c.Dim)
	}
	return runs, nil
}

// forwardBatch runs runs (distinct caches, rows positions in all) in one
// submission.
func (s *Stage) forwardBatch(ctx context.Context, runs []batchRun, rows int, x []float32) error {
	d := s.cfg.Dim
	layers, err := s.batchLayers(ctx)
	if err != nil {
		return err
	}
	cs := make([]float32, 0, rows*len(s.freqs)*2)
	for _, r := range runs {
		if _, err := s.kvBatch(ctx, r.kv, r.splitAtt); err != nil {
			return err
		}
		s.d.WriteF32(s.x, int64(4*r.row*d), x[r.xoff:r.xoff+r.n*d])
		s.d.WriteU32(r.kv.batch.step, 0, []uint32{uint32(r.n), uint32(r.pos), uint32(r.row), 0})
		cs = append(cs, RopeTable(s.freqs, r.pos, r.n)...)
	}
	s.d.WriteF32(s.cs, 0, cs)
	s.d.WriteU32(s.step, 0, []uint32{uint32(rows), 0, 0, 0})
	if s.batchPass == nil {
		s.batchPass = s.d.NewPass()
	}
	pass := s.batchPass
	pass.reset()
	for li, l := range layers {
		l.pre.appendTo(pass, rows, 0)
		for _, r := range runs {
			var att *Program
			if r.splitAtt {
				att = r.kv.batch.split[li]
			} else {
				att = r.kv.batch.single[li]
			}
			att.appendTo(pass, r.n, r.pos)
		}
		l.post.appendTo(pass, rows, 0)
	}
	s.d.Run(pass)
	out := make([]float32, rows*d)
	if err := s.d.ReadF32(ctx, s.x, 0, out); err != nil {
		return err
	}
	for _, r := range runs {
		copy(x[r.xoff:r.xoff+r.n*d], out[r.row*d:(r.row+r.n)*d])
	}
	return nil
}

// batchLayers returns the stage's per-block programs around attention,
// recording them on first use.
func (s *Stage) batchLayers(ctx context.Context) ([]batchLayer, error) {
	if s.batchProgs != nil {
		return s.batchProgs, nil
	}
	c := &s.cfg
	o := s.ops
	d, qd, f := c.Dim, c.QDim(), c.FFNDim
	qkvd := qd + 2*c.KVDim()
	vec := func(b *Buffer, stride int) Vec { return Vec{Buf: b, Stride: stride} }
	fuse := func(w *Weights) *Weights {
		if s.opt.Unfused {
			return nil
		}
		return w
	}
	var layers []batchLayer
	for li := range s.blocks {
		b := &s.blocks[li]
		pre, post := s.d.NewProgram(s.step), s.d.NewProgram(s.step)
		steps := []func() error{
			func() error {
				return o.RMSNormFor(ctx, pre, vec(s.x, d), b.attnNorm, vec(s.xb, d), d, c.NormEps, fuse(b.qkv.ws[0]), false)
			},
			func() error { return s.linear(ctx, pre, b.qkv, vec(s.xb, d), s.qkv, qkvd) },
			func() error {
				if b.qkvBias == nil {
					return nil
				}
				return o.Bias(ctx, pre, s.qkv, b.qkvBias, qkvd, qkvd)
			},
			func() error { return o.Linear(ctx, post, b.o, vec(s.att, qd), vec(s.x, d), true, false) },
			func() error {
				return o.RMSNormFor(ctx, post, vec(s.x, d), b.ffnNorm, vec(s.xb, d), d, c.NormEps, fuse(b.gateUp.ws[0]), false)
			},
			func() error { return s.linear(ctx, post, b.gateUp, vec(s.xb, d), s.hb, 2*f) },
			func() error { return o.SwiGLUFor(ctx, post, s.hb, f, 2*f, fuse(b.down), false) },
			func() error { return o.Linear(ctx, post, b.down, vec(s.hb, 2*f), vec(s.x, d), true, false) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		layers = append(layers, batchLayer{pre: pre, post: post})
	}
	s.ops.Flush()
	if err := s.d.Err(); err != nil {
		return nil, err
	}
	s.batchProgs = layers
	return layers, nil
}

// linear records a stack's matrices (decoding kernels) into p.
func (s *Stage) linear(ctx context.Context, p *Program, st stack, x Vec, y *Buffer, stride int) error {
	for i, w := range st.ws {
		if err := s.ops.Linear(ctx, p, w, x, Vec{Buf: y, Off: st.offs[i], Stride: stride}, false, false); err != nil {
			return err
		}
	}
	return nil
}

// kvBatch returns kv's batch programs, recording the attention kind asked
// for on first use: RoPE into kv's cache and attention over it, rows and
// positions from kv's Step uniform.
func (s *Stage) kvBatch(ctx context.Context, kv *KV, split bool) (*kvBatch, error) {
	if kv.batch == nil {
		step, err := s.d.NewUniform(16)
		if err != nil {
			return nil, err
		}
		kv.batch = &kvBatch{step: step, ops: s.d.NewOps(step)}
	}
	b := kv.batch
	progs := &b.single
	if split {
		progs = &b.split
	}
	if *progs != nil {
		return b, nil
	}
	c := &s.cfg
	shape := RopeShape{
		Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Rot: len(s.freqs), NeoX: c.RopeStyle == model.RopeNeoX,
		Slots: kv.slots, Window: kv.window, Scale: s.scale,
	}
	var out []*Program
	for li := range s.blocks {
		p := s.d.NewProgram(b.step)
		err := b.ops.Rope(ctx, p, shape, s.qkv, s.q, kv.k[li], kv.v[li], s.cs)
		if err == nil && split {
			err = b.ops.AttentionSplit(ctx, p, shape, s.q, kv.k[li], kv.v[li], kv.part, s.att)
		} else if err == nil {
			err = s.prefillAttention(ctx, b.ops, p, shape, kv, li)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	b.ops.Flush()
	*progs = out
	return b, s.d.Err()
}
