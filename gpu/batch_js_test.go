//go:build js && wasm

package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// TestMatVecBatchInvariance holds the batched matvec to the one-vector
// matvec bit for bit: each column of a batch of B (1, 3, 8, 16, 17, 32), its
// neighbours random, equals that column run alone, for every type (the
// int8 planar path and the direct one), with and without accumulation,
// over several chunks, with subgroup and workgroup-memory reductions.
func TestMatVecBatchInvariance(t *testing.T) {
	types := append(append([]kernels.DType{}, planarTypes...), kernels.F16, kernels.F32)
	cases := []linearCase{
		{rows: 67, cols: 512, chunkRows: 30, accumulate: true},
		{rows: 40, cols: 4096}, // long rows: the matvec's RT 4, prefetching shape
	}
	for _, sub := range []bool{true, false} {
		for _, typ := range types {
			for _, c := range cases {
				name := fmt.Sprintf("%s/%dx%d/subgroups=%v", typ, c.rows, c.cols, sub)
				t.Run(name, func(t *testing.T) {
					if c.cols > 512 && (!sub || typ == kernels.F32 || typ == kernels.F16) {
						t.Skip("long rows: the planar types' shape, with subgroups")
					}
					dev.NoSubgroups = !sub
					defer func() { dev.NoSubgroups = false }()
					testBatchInvariance(t, typ, c, []int{1, 3, 8, 16, 17, 32}, nil)
				})
			}
		}
	}
}

func testBatchInvariance(t *testing.T, typ kernels.DType, c linearCase, batches []int, setup func(*Ops)) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(typ), uint64(c.rows*c.cols)))
	data := randWeights(t, r, typ, c.rows, c.cols)
	var maxChunk int64
	if c.chunkRows > 0 {
		rb, _ := typ.RowBytes(int64(c.cols))
		maxChunk = rb*int64(c.chunkRows) + 4
	}
	w, err := dev.UploadWeights(typ, c.rows, c.cols, data, maxChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Destroy()
	most := batches[len(batches)-1]
	xs := randVec(r, most*c.cols, 1)
	init := randVec(r, most*c.rows, 1)
	run := func(x []float32, n int, noBatch bool, init []float32) []float32 {
		t.Helper()
		xb, yb := storage(t, x, 0), storage(t, init, 0)
		step := newStep(t)
		o := dev.NewOps(step)
		o.Batch = most
		o.NoBatchKernel = noBatch
		if setup != nil {
			setup(o)
		}
		defer o.Destroy()
		p := dev.NewProgram(step)
		if err := o.Linear(ctx, p, w, Vec{Buf: xb, Stride: c.cols}, Vec{Buf: yb, Stride: c.rows}, c.accumulate, false); err != nil {
			t.Fatal(err)
		}
		o.Flush()
		p.Run(n, 0)
		return readF32(t, yb, n*c.rows)
	}
	// The matvec alone: each vector of a batch has workgroups of its own,
	// run as a batch of one would (checked for the first and last).
	all := run(xs, most, true, init)
	solo := make([][]float32, most)
	for j := range most {
		solo[j] = all[j*c.rows : (j+1)*c.rows]
	}
	for _, j := range []int{0, most - 1} {
		one := run(xs[j*c.cols:(j+1)*c.cols], 1, false, init[j*c.rows:(j+1)*c.rows])
		for i, v := range one {
			if math.Float32bits(v) != math.Float32bits(solo[j][i]) {
				t.Fatalf("the matvec of vector %d alone differs from within a batch at row %d: %g, %g", j, i, v, solo[j][i])
			}
		}
	}
	for _, n := range batches {
		got := run(xs[:n*c.cols], n, false, init[:n*c.rows])
		for j := range n {
			for i, v := range got[j*c.rows : (j+1)*c.rows] {
				if math.Float32bits(v) != math.Float32bits(solo[j][i]) {
					t.Fatalf("B=%d: column %d row %d is %g (bits %08x), alone %g (%08x)", n, j, i, v, math.Float32bits(v), solo[j][i], math.Float32bits(solo[j][i]))
				}
			}
		}
	}
	// And the batch is right, not only alike: the reference within the
	// matvec tolerance.
	want := make([]float32, most*c.rows)
	if err := kernels.MatMulRows(typ, data, c.cols, 0, c.rows, xs, most, want); err != nil {
		t.Fatal(err)
	}
	bound := absDots(t, typ, data, c.rows, c.cols, xs, most)
	var got []float32
	for j := range most {
		got = append(got, solo[j]...)
		if c.accumulate {
			for i := range c.rows {
				want[j*c.rows+i] += init[j*c.rows+i]
				bound[j*c.rows+i] += abs32(init[j*c.rows+i])
			}
		}
	}
	closeTo(t, "y", got, want, bound, matvecTol)
}

// TestBatchVariants runs the variants a GPU gets (4 and 8 columns a
// workgroup of the tile kernel, 4, 8 and 16 of the earlier one, by the
// batch's size) whatever this adapter is: each batch size takes one of
// them and every column stays the matvec's.
func TestBatchVariants(t *testing.T) {
	c := linearCase{rows: 40, cols: 512, accumulate: true}
	for _, k := range []wgsl.BatchKernel{wgsl.BatchTile, wgsl.BatchRows} {
		t.Run(k.String(), func(t *testing.T) {
			testBatchInvariance(t, kernels.Q4_0, c, []int{2, 4, 5, 8, 9, 16, 20}, func(o *Ops) {
				o.BatchColumns = []int{4, 8, 16}
				o.BatchKernel = k
			})
		})
	}
}

// TestBatchShapes checks that the batched matvecs agree with the matvec
// in shapes other than this adapter's default: few columns, and two rows
// an invocation, of the tiled kernel and the earlier one (TestTileShapes
// has the tiled kernel's larger shapes).
func TestBatchShapes(t *testing.T) {
	c := linearCase{rows: 45, cols: 768}
	for _, s := range []wgsl.BatchShape{
		{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 16, RT: 1}, CB: 4},
		{MatVecShape: wgsl.MatVecShape{WG: 128, TPR: 16, RT: 2}, CB: 8},
		{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 16, RT: 1}, CB: 4, Kernel: wgsl.BatchRows},
		{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 16, RT: 2}, CB: 8, Kernel: wgsl.BatchRows}, // rows interleaved, as on GPUs (the INVARIANCE step of scripts/bench-gpu-all runs their defaults there)
	} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			testBatchInvariance(t, kernels.Q8_0, c, []int{2, 9}, func(o *Ops) {
				o.Shape = func(int) wgsl.MatVecShape { return wgsl.MatVecShape{WG: s.WG, TPR: s.TPR, RT: 2, Prefetch: true} }
				o.BatchShape = func(wgsl.MatVecShape) wgsl.BatchShape { return s }
			})
		})
	}
}

// batchModel is a random model whose matrices take the int8 path (Q4_0,
// Q8_0, Q4_K, Q6_K; q/k/v and gate/up stacked where their types agree)
// and an f16 output head (read directly).
func batchModel(t *testing.T) (*model.Model, []byte) {
	t.Helper()
	spec := synth.Spec{Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 320, Context: 128, Untied: true, Name: "synth-batch"}
	types := map[string]kernels.DType{
		"token_embd.weight": kernels.Q8_0, "output.weight": kernels.F16,
		"attn_q.weight": kernels.Q4_0, "attn_k.weight": kernels.Q4_0, "attn_v.weight": kernels.Q4_0,
		"attn_output.weight": kernels.Q4_K, "ffn_gate.weight": kernels.Q8_0, "ffn_up.weight": kernels.Q8_0,
		"ffn_down.weight": kernels.Q6_K,
	}
	data := quantizedSynth(t, spec, types)
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return m, data
}

// gpuChain is a model's GPU stages, split at splits.
func gpuChain(t *testing.T, m *model.Model, data []byte, splits []int) []*Stage {
	t.Helper()
	bounds := append(append([]int{0}, splits...), m.Config.Layers)
	var out []*Stage
	for i := 0; i+1 < len(bounds); i++ {
		r := worker.Range{Begin: bounds[i], End: bounds[i+1], First: i == 0, Last: i+2 == len(bounds)}
		s, err := NewStage(context.Background(), m, r, Options{Device: dev, Source: bytes.NewReader(data), MaxBatch: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		out = append(out, s)
	}
	return out
}

// batchSeq is one sequence driven through a chain: its caches, tokens so
// far and the bits of every hidden state the last stage produced.
type batchSeq struct {
	kvs    []agent.KV
	tokens []int
	next   int // positions already run
	hidden [][]float32
}

func newSeq(t *testing.T, chain []*Stage, prompt []int) *batchSeq {
	t.Helper()
	q := &batchSeq{tokens: append([]int(nil), prompt...)}
	for _, s := range chain {
		kv, err := s.NewKV(worker.Options{Positions: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(kv.(*KV).Release)
		q.kvs = append(q.kvs, kv)
	}
	return q
}

// stepAll runs the pending positions of seqs as one batch through every
// stage (ForwardBatch, or Forward one sequence at a time with solo), then
// picks each one's greedy next token.
func stepAll(t *testing.T, chain []*Stage, seqs []*batchSeq, solo bool) {
	t.Helper()
	c := chain[0].Config()
	var x []float32
	var ns []int
	for _, q := range seqs {
		toks := q.tokens[q.next:]
		e := make([]float32, len(toks)*c.Dim)
		if err := chain[0].Embed(e, toks); err != nil {
			t.Fatal(err)
		}
		x = append(x, e...)
		ns = append(ns, len(toks))
	}
	for si, s := range chain {
		if solo {
			off := 0
			for i, q := range seqs {
				if err := s.Forward(q.kvs[si], x[off*c.Dim:(off+ns[i])*c.Dim], q.next, ns[i]); err != nil {
					t.Fatal(err)
				}
				off += ns[i]
			}
			continue
		}
		steps := make([]agent.Step, len(seqs))
		for i, q := range seqs {
			steps[i] = agent.Step{KV: q.kvs[si], Pos: q.next, N: ns[i]}
		}
		if err := s.ForwardBatch(steps, x); err != nil {
			t.Fatal(err)
		}
	}
	last := chain[len(chain)-1]
	off := 0
	for i, q := range seqs {
		h := append([]float32(nil), x[(off+ns[i]-1)*c.Dim:(off+ns[i])*c.Dim]...)
		q.hidden = append(q.hidden, append([]float32(nil), h...))
		logits := make([]float32, c.Vocab)
		if err := last.Logits(logits, h, 1); err != nil {
			t.Fatal(err)
		}
		q.next += ns[i]
		q.tokens = append(q.tokens, kernels.Argmax(logits))
		off += ns[i]
	}
}

// TestForwardBatchInvariance: sequences of mixed prompt lengths (split
// attention below MatMulMin positions, one-pass from it) run in batches
// of changing composition through two GPU stages give every sequence the
// hidden states, bit for bit, and so the greedy text it gets alone; a
// decoding step alone through Forward (the fused decode program) agrees
// bit for bit too, and a long prompt past MaxBatch is cut into runs.
func TestForwardBatchInvariance(t *testing.T) {
	m, data := batchModel(t)
	prompts := [][]int{{1}, {1, 40, 41}, {1, 50, 51, 52, 53, 54}, {1, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78}, {1, 90}}
	const steps = 8
	chain := gpuChain(t, m, data, []int{1})
	alone := make([]*batchSeq, len(prompts))
	for i, p := range prompts {
		alone[i] = newSeq(t, chain, p)
		for range steps {
			stepAll(t, chain, []*batchSeq{alone[i]}, false)
		}
	}
	// Forward, the sequence alone, through the decode program.
	for i, p := range prompts[:2] {
		q := newSeq(t, chain, p)
		stepAll(t, chain, []*batchSeq{q}, false) // the prompt as a batch of one, as the agent runs it
		for range steps - 1 {
			stepAll(t, chain, []*batchSeq{q}, true)
		}
		sameSeq(t, fmt.Sprintf("Forward, sequence %d", i), q, alone[i])
	}
	// Batches: all prompts at once, then decoding steps of changing
	// company (sequence i sits out every step k with (i+k)%3 == 0).
	seqs := make([]*batchSeq, len(prompts))
	for i, p := range prompts {
		seqs[i] = newSeq(t, chain, p)
	}
	stepAll(t, chain, seqs, false)
	largest := 0
	for k := 0; ; k++ {
		var some []*batchSeq
		for i, q := range seqs {
			if len(q.hidden) < steps && (i+k)%3 != 0 {
				some = append(some, q)
			}
		}
		if len(some) == 0 && k > 3 {
			break
		}
		largest = max(largest, len(some))
		if len(some) > 0 {
			stepAll(t, chain, some, false)
		}
	}
	if largest < 3 {
		t.Fatalf("largest batch %d", largest)
	}
	for i := range seqs {
		sameSeq(t, fmt.Sprintf("batched, sequence %d", i), seqs[i], alone[i])
	}
}

func sameSeq(t *testing.T, what string, got, want *batchSeq) {
	t.Helper()
	if fmt.Sprint(got.tokens) != fmt.Sprint(want.tokens) {
		t.Fatalf("%s: tokens %v, alone %v", what, got.tokens, want.tokens)
	}
	for s := range got.hidden {
		for j, v := range got.hidden[s] {
			if math.Float32bits(v) != math.Float32bits(want.hidden[s][j]) {
				t.Fatalf("%s: step %d value %d is %g, alone %g", what, s, j, v, want.hidden[s][j])
			}
		}
	}
}

// TestForwardBatchRefuses: bad steps are refused with the error's kind
// before anything runs, and the caches they name are left as they were.
func TestForwardBatchRefuses(t *testing.T) {
	m, data := batchModel(t)
	chain := gpuChain(t, m, data, nil)
	s := chain[0]
	a, b := newSeq(t, chain, []int{1}), newSeq(t, chain, []int{1})
	other := gpuChain(t, m, data, nil)[0]
	okv, err := other.NewKV(worker.Options{Positions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(okv.(*KV).Release)
	released, err := s.NewKV(worker.Options{Positions: 64})
	if err != nil {
		t.Fatal(err)
	}
	released.(*KV).Release()
	d := m.Config.Dim
	x := make([]float32, 2*d)
	for _, c := range []struct {
		name  string
		steps []agent.Step
		x     []float32
		want  error
	}{
		{"another stage's cache", []agent.Step{{KV: okv, Pos: 0, N: 1}}, x[:d], worker.ErrShape},
		{"a released cache", []agent.Step{{KV: released, Pos: 0, N: 1}}, x[:d], worker.ErrShape},
		{"one cache twice", []agent.Step{{KV: a.kvs[0], Pos: 0, N: 1}, {KV: a.kvs[0], Pos: 1, N: 1}}, x, worker.ErrShape},
		{"past the cache", []agent.Step{{KV: a.kvs[0], Pos: 64, N: 1}}, x[:d], worker.ErrPosition},
		{"no positions", []agent.Step{{KV: a.kvs[0], Pos: 0, N: 0}}, x[:0], worker.ErrPosition},
		{"short x", []agent.Step{{KV: a.kvs[0], Pos: 0, N: 1}, {KV: b.kvs[0], Pos: 0, N: 1}}, x[:d], worker.ErrShape},
	} {
		if err := s.ForwardBatch(c.steps, c.x); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if a.kvs[0].(*KV).batch != nil || b.kvs[0].(*KV).batch != nil {
		t.Error("a refused batch recorded programs for its caches")
	}
}

// TestPipelineRejectsBadShader: a shader that does not compile comes
// back as an ErrDevice error with the compiler's message.
func TestPipelineRejectsBadShader(t *testing.T) {
	_, err := dev.Pipeline(context.Background(), "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }")
	if !errors.Is(err, ErrDevice) || !strings.Contains(err.Error(), "shader") {
		t.Fatalf("bad shader: %v", err)
	}
	if err := dev.Err(); err != nil {
		t.Fatalf("the device reported %v after a refused shader", err)
	}
}

// TestPrefillMatchesDecoding: a prompt run as prefill pieces (split
// attention over passes of a few positions, a KV head's query heads a
// workgroup) gives every position's hidden state bit for bit as decoding
// the prompt one token at a time does, through two GPU stages; so does a
// stage whose partials buffer holds 3 positions (several passes a piece)
// and one taking one query head a workgroup; a head count that does not
// divide a KV head's is refused.
// One-pass attention (Options.OnePassPrefill) differs from it past the
// first 64 keys (one split is one pass's arithmetic), within the
// tolerance.
func TestPrefillMatchesDecoding(t *testing.T) {
	m, data := batchModel(t)
	prompt := make([]int, 100) // pieces of 16 and a last of 4 (MatMulMin: all prefill), keys in two splits
	for i := range prompt {
		prompt[i] = 1 + (i*37)%300
	}
	chain := func(o Options) []*Stage {
		var out []*Stage
		for i, r := range []worker.Range{{Begin: 0, End: 1, First: true}, {Begin: 1, End: 2, Last: true}} {
			o.Device, o.Source, o.MaxBatch = dev, bytes.NewReader(data), 16
			s, err := NewStage(context.Background(), m, r, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			if i == 0 && !o.OnePassPrefill && s.prefillPart == nil {
				t.Fatal("no prefill partials buffer")
			}
			out = append(out, s)
		}
		return out
	}
	run := func(ch []*Stage, piece int) []float32 {
		t.Helper()
		c := ch[0].Config()
		kvs := make([]agent.KV, len(ch))
		for i, s := range ch {
			kvs[i] = s.kvFor(t)
		}
		var out []float32
		for at := 0; at < len(prompt); at += piece {
			toks := prompt[at:min(at+piece, len(prompt))]
			x := make([]float32, len(toks)*c.Dim)
			if err := ch[0].Embed(x, toks); err != nil {
				t.Fatal(err)
			}
			for i, s := range ch {
				if err := s.ForwardBatch([]agent.Step{{KV: kvs[i], Pos: at, N: len(toks)}}, x); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, x...)
		}
		return out
	}
	decoded := run(chain(Options{}), 1)
	differs := func(got []float32) int {
		for i, v := range got {
			if math.Float32bits(v) != math.Float32bits(decoded[i]) {
				return i
			}
		}
		return -1
	}
	if i := differs(run(chain(Options{}), len(prompt))); i >= 0 {
		t.Fatalf("prefill: position %d value %d differs from decoding one by one", i/m.Config.Dim, i%m.Config.Dim)
	}
	small := chain(Options{PrefillPartBytes: 3 * 4 * int64(m.Config.Heads*wgsl.SplitPartValues(m.Config.HeadDim, 128))})
	if r := small[0].prefillRows(small[0].kvFor(t)); r != 3 {
		t.Fatalf("%d positions a pass, want 3", r)
	}
	if i := differs(run(small, len(prompt))); i >= 0 {
		t.Fatalf("prefill, 3 positions a pass: position %d value %d differs from decoding one by one", i/m.Config.Dim, i%m.Config.Dim)
	}
	if i := differs(run(chain(Options{PrefillHeadsPerWorkgroup: 1}), len(prompt))); i >= 0 {
		t.Fatalf("prefill, one head a workgroup: position %d value %d differs from decoding one by one", i/m.Config.Dim, i%m.Config.Dim)
	}
	if _, err := NewStage(context.Background(), m, worker.Range{Begin: 0, End: 1, First: true},
		Options{Device: dev, Source: bytes.NewReader(data), PrefillHeadsPerWorkgroup: 3}); !errors.Is(err, ErrLimits) {
		t.Errorf("3 heads a workgroup for 2 a KV head: %v", err)
	}
	onePass := run(chain(Options{OnePassPrefill: true}), len(prompt))
	if differs(onePass) < 0 {
		t.Error("one-pass prefill gives decoding's bits: the test does not see which attention runs")
	}
	closeTo(t, "one-pass prefill", onePass, decoded, headMagnitudes(decoded, m.Config.Dim), 1e-3) // of each position's largest value
}

// kvFor is a cache of 128 positions on s, released when the test ends.
func (s *Stage) kvFor(t *testing.T) *KV {
	t.Helper()
	kv, err := s.NewKV(worker.Options{Positions: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kv.(*KV).Release)
	return kv.(*KV)
}

// TestLoaderTakesPlanBatch: a worker's stage runs the plan's prefill
// batch a submission (Loader), lowered where the device cannot bind that
// many positions' activations: Llama-3-70B's logits (513 KB a position)
// under a 64 MiB binding, 130 on the last stage, the feed-forward halves
// (229 KB) 292 elsewhere.
func TestLoaderTakesPlanBatch(t *testing.T) {
	m, data := batchModel(t)
	load := Loader(Options{Device: dev, Source: bytes.NewReader(data)})
	for _, batch := range []int{24, 0} {
		c, err := load(context.Background(), m, worker.Range{Begin: 0, End: 2, First: true, Last: true}, batch)
		if err != nil {
			t.Fatal(err)
		}
		s := c.(*Stage)
		want := batch
		if batch == 0 {
			want = 64 // the default
		}
		if s.MaxBatch() != want {
			t.Errorf("plan batch %d: the stage runs %d a submission, want %d", batch, s.MaxBatch(), want)
		}
		s.Close()
	}
	p, _, err := preset.Parse("llama-3-70b:q4_0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limits{MaxBufferSize: 256 << 20, MaxStorageBufferBindingSize: 64 << 20}
	last, mid := MaxBatchFor(l, p.Config(), worker.Range{Begin: 70, End: 80, Last: true}), MaxBatchFor(l, p.Config(), worker.Range{Begin: 0, End: 10})
	if last != 130 || mid != 292 {
		t.Errorf("a 64 MiB binding holds %d positions on the last stage, %d on another; want 130 and 292", last, mid)
	}
}
