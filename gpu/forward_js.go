//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// Embed writes the embeddings of tokens into x (len(tokens)×Dim), looked
// up on the GPU.
func (s *Stage) Embed(x []float32, tokens []int) error {
	if !s.rng.First {
		return fmt.Errorf("%w: stage [%d,%d) holds no embedding", worker.ErrRange, s.rng.Begin, s.rng.End)
	}
	d := s.cfg.Dim
	if len(x) != len(tokens)*d {
		return fmt.Errorf("%w: %d values for %d tokens of %d", worker.ErrShape, len(x), len(tokens), d)
	}
	ids := make([]uint32, len(tokens))
	for i, t := range tokens {
		if t < 0 || t >= s.cfg.Vocab {
			return fmt.Errorf("token %d out of vocabulary [0,%d)", t, s.cfg.Vocab)
		}
		ids[i] = uint32(t)
	}
	ctx := context.Background()
	if s.embedProg == nil {
		p := s.d.NewProgram(s.step)
		if err := s.ops.Embed(ctx, p, s.embed, s.tokens, s.x); err != nil {
			return err
		}
		s.ops.Flush()
		s.embedProg = p
	}
	for i := 0; i < len(tokens); i += s.opt.MaxBatch {
		n := min(s.opt.MaxBatch, len(tokens)-i)
		s.d.WriteU32(s.tokens, 0, ids[i:i+n])
		s.embedProg.Run(n, 0)
		if err := s.d.ReadF32(ctx, s.x, 0, x[i*d:(i+n)*d]); err != nil {
			return err
		}
	}
	return nil
}

// Forward runs the stage's blocks over the hidden states x of n
// consecutive positions starting at pos (n×Dim values, updated in place),
// storing their keys and values in kv, in one submission per MaxBatch
// positions.
func (s *Stage) Forward(akv agent.KV, x []float32, pos, n int) error {
	c := &s.cfg
	kv, ok := akv.(*KV)
	if !ok || kv.s != s {
		return fmt.Errorf("%w: KV cache of another backend or stage", worker.ErrShape)
	}
	if len(kv.k) != len(s.blocks) {
		return fmt.Errorf("%w: KV cache of %d blocks for a stage of %d", worker.ErrShape, len(kv.k), len(s.blocks))
	}
	if n <= 0 || pos < 0 || pos+n > kv.positions {
		return fmt.Errorf("%w: positions [%d,%d) with room for %d", worker.ErrPosition, pos, pos+n, kv.positions)
	}
	if len(x) != n*c.Dim {
		return fmt.Errorf("%w: %d values for %d positions of %d", worker.ErrShape, len(x), n, c.Dim)
	}
	batch := s.opt.MaxBatch
	if kv.window > 0 {
		batch = min(batch, maxChunk)
	}
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		if err := s.forward(ctx, kv, x[i*c.Dim:(i+k)*c.Dim], pos+i, k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stage) forward(ctx context.Context, kv *KV, x []float32, pos, n int) error {
	if len(s.blocks) == 0 {
		return nil
	}
	p, err := s.program(ctx, kv, n >= s.opt.MatMulMin)
	if err != nil {
		return err
	}
	t0 := time.Now()
	s.d.WriteF32(s.x, 0, x)
	s.d.WriteF32(s.cs, 0, RopeTable(s.freqs, pos, n))
	if n != 1 || kv.rb == nil {
		p.Run(n, pos)
		return s.d.ReadF32(ctx, s.x, 0, x)
	}
	// Decoding: the step's command buffer was most likely recorded while
	// the stage waited for this input (prepareNext); its last command
	// copies the output to the KV's readback buffer.
	out := Copy{Src: s.x, Dst: kv.rb, Size: int64(4 * len(x))}
	p.RunPrepared(1, pos, out)
	t1 := time.Now()
	err = s.d.ReadMapped(ctx, kv.rb, f32Bytes(x))
	s.decodeTimes.add(t1.Sub(t0), time.Since(t1), s.opt.Logger)
	s.prepareNext(kv, p, pos+1, out)
	return err
}

// prepareNext records the next decoding step's command buffer (for
// position pos) a moment from now, once this step's output has gone on its way: the worker then
// spends the millisecond or more that encoding takes while it waits for
// its next input. (Go's wasm runtime runs one goroutine at a time, so the
// recording never interleaves with a step.)
func (s *Stage) prepareNext(kv *KV, p *Program, pos int, out Copy) {
	go func() {
		time.Sleep(time.Millisecond)
		if kv.decode == p && !p.Prepared(1, pos) {
			p.Prepare(1, pos, out)
			s.prepared++
		}
	}()
}

// stepTimes sums where decoding steps' time goes on the host: writing the
// inputs and encoding and submitting the pass, then waiting for the GPU
// and reading the output back. Every 128 steps it logs their means and
// starts again.
type stepTimes struct {
	n            int
	submit, wait time.Duration
}

func (t *stepTimes) add(submit, wait time.Duration, log *slog.Logger) {
	t.n++
	t.submit += submit
	t.wait += wait
	if t.n < 128 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(t.n) }
	log.Info("decode steps", "steps", t.n, "submit_ms", ms(t.submit), "wait_and_read_ms", ms(t.wait))
	*t = stepTimes{}
}

// program returns kv's forward program, recording it on first use.
func (s *Stage) program(ctx context.Context, kv *KV, matmul bool) (*Program, error) {
	slot := &kv.decode
	if matmul {
		slot = &kv.prefill
	}
	if *slot != nil {
		return *slot, nil
	}
	p := s.d.NewProgram(s.step)
	for li := range s.blocks {
		if err := s.record(ctx, p, kv, li, matmul); err != nil {
			return nil, err
		}
	}
	s.ops.Flush()
	*slot = p
	return p, s.d.Err()
}

// record adds block li's dispatches to p: the same steps as worker.Stage's
// attention and feedForward, residual adds fused into the output
// projections. Decoding a Llama layer whose tensors stack takes ten
// dispatches: RMSNorm with the planar layout of its output, the q/k/v
// matvec, RoPE, split attention's two passes (the merge laying its output
// out), the output projection, RMSNorm again, the gate/up matvec, SwiGLU
// with the layout of its output, the down projection.
func (s *Stage) record(ctx context.Context, p *Program, kv *KV, li int, matmul bool) error {
	c := &s.cfg
	b := &s.blocks[li]
	o := s.ops
	d, qd, f := c.Dim, c.QDim(), c.FFNDim
	qkvd := qd + 2*c.KVDim()
	shape := RopeShape{
		Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Rot: len(s.freqs), NeoX: c.RopeStyle == model.RopeNeoX,
		Slots: kv.slots, Window: kv.window, Scale: s.scale,
	}
	vec := func(b *Buffer, stride int) Vec { return Vec{Buf: b, Stride: stride} }
	linear := func(st stack, x Vec, y *Buffer, stride int) error {
		for i, w := range st.ws {
			if err := o.Linear(ctx, p, w, x, Vec{Buf: y, Off: st.offs[i], Stride: stride}, false, matmul); err != nil {
				return err
			}
		}
		return nil
	}
	fuse := func(w *Weights) *Weights { // the matrix a norm or SwiGLU lays its output out for
		if s.opt.Unfused {
			return nil
		}
		return w
	}
	steps := []func() error{
		func() error {
			return o.RMSNormFor(ctx, p, vec(s.x, d), b.attnNorm, vec(s.xb, d), d, c.NormEps, fuse(b.qkv.ws[0]), matmul)
		},
		func() error { return linear(b.qkv, vec(s.xb, d), s.qkv, qkvd) },
		func() error {
			if b.qkvBias == nil {
				return nil
			}
			return o.Bias(ctx, p, s.qkv, b.qkvBias, qkvd, qkvd)
		},
		func() error { return o.Rope(ctx, p, shape, s.qkv, s.q, kv.k[li], kv.v[li], s.cs) },
		func() error {
			if !matmul && kv.part != nil { // a few queries: spread each over the keys
				return o.AttentionSplitFor(ctx, p, shape, s.q, kv.k[li], kv.v[li], kv.part, s.att, fuse(b.o))
			}
			return s.prefillAttention(ctx, o, p, shape, kv, li) // many queries (or no room for decoding's partials)
		},
		func() error { return o.Linear(ctx, p, b.o, vec(s.att, qd), vec(s.x, d), true, matmul) },
		func() error {
			return o.RMSNormFor(ctx, p, vec(s.x, d), b.ffnNorm, vec(s.xb, d), d, c.NormEps, fuse(b.gateUp.ws[0]), matmul)
		},
		func() error { return linear(b.gateUp, vec(s.xb, d), s.hb, 2*f) },
		func() error { return o.SwiGLUFor(ctx, p, s.hb, f, 2*f, fuse(b.down), matmul) },
		func() error { return o.Linear(ctx, p, b.down, vec(s.hb, 2*f), vec(s.x, d), true, matmul) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Logits writes the logits of each of the n hidden states in x (n×Dim)
// into out (n×Vocab). x is overwritten by the final norm, as worker.Stage
// does.
func (s *Stage) Logits(out, x []float32, n int) error {
	if err := s.checkHead(x, n); err != nil {
		return err
	}
	if len(out) != n*s.cfg.Vocab {
		return fmt.Errorf("%w: %d hidden and %d logit values for %d positions", worker.ErrShape, len(x), len(out), n)
	}
	ctx := context.Background()
	d, v := s.cfg.Dim, s.cfg.Vocab
	for i := 0; i < n; i += s.opt.MaxBatch {
		k := min(s.opt.MaxBatch, n-i)
		p, err := s.head(ctx)
		if err != nil {
			return err
		}
		s.d.WriteF32(s.x, 0, x[i*d:(i+k)*d])
		p.Run(k, 0)
		if err := s.d.ReadF32(ctx, s.xb, 0, x[i*d:(i+k)*d]); err != nil {
			return err
		}
		if err := s.d.ReadF32(ctx, s.logits, 0, out[i*v:(i+k)*v]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stage) checkHead(x []float32, n int) error {
	if !s.rng.Last {
		return fmt.Errorf("%w: stage [%d,%d) holds no output head", worker.ErrRange, s.rng.Begin, s.rng.End)
	}
	if n <= 0 || len(x) != n*s.cfg.Dim {
		return fmt.Errorf("%w: %d hidden values for %d positions", worker.ErrShape, len(x), n)
	}
	return nil
}

// head returns the program of the final norm and output head.
func (s *Stage) head(ctx context.Context) (*Program, error) {
	if s.headProg != nil {
		return s.headProg, nil
	}
	p := s.d.NewProgram(s.step)
	if err := s.recordHead(ctx, p); err != nil {
		return nil, err
	}
	s.ops.Flush()
	s.headProg = p
	return p, nil
}

// Greedy returns the greedy (argmax) next token after each of the n
// hidden states in x: final norm, output head and argmax all on the GPU,
// so only n indices come back. x is not modified.
func (s *Stage) Greedy(x []float32, n int) ([]int, error) {
	if err := s.checkHead(x, n); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if s.greedyProg == nil {
		p := s.d.NewProgram(s.step)
		if err := s.recordHead(ctx, p); err != nil {
			return nil, err
		}
		if err := s.ops.Argmax(ctx, p, s.logits, s.picks, s.cfg.Vocab, s.cfg.Vocab); err != nil {
			return nil, err
		}
		s.ops.Flush()
		s.greedyProg = p
	}
	d := s.cfg.Dim
	out := make([]int, 0, n)
	picks := make([]uint32, s.opt.MaxBatch)
	for i := 0; i < n; i += s.opt.MaxBatch {
		k := min(s.opt.MaxBatch, n-i)
		s.d.WriteF32(s.x, 0, x[i*d:(i+k)*d])
		s.greedyProg.Run(k, 0)
		if err := s.d.ReadU32(ctx, s.picks, 0, picks[:k]); err != nil {
			return nil, err
		}
		for _, t := range picks[:k] {
			out = append(out, int(t))
		}
	}
	return out, nil
}

// recordHead adds the final norm and output head to p.
func (s *Stage) recordHead(ctx context.Context, p *Program) error {
	d := s.cfg.Dim
	if err := s.ops.RMSNorm(ctx, p, Vec{Buf: s.x, Stride: d}, s.outNorm, Vec{Buf: s.xb, Stride: d}, d, s.cfg.NormEps); err != nil {
		return err
	}
	return s.ops.Linear(ctx, p, s.output, Vec{Buf: s.xb, Stride: d}, Vec{Buf: s.logits, Stride: s.cfg.Vocab}, false, false)
}
