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
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// Whole-stage tolerances: logits within 1e-3 of worker.Stage's (absolute,
// for logits of order 1–10), greedy tokens identical.
const logitTol = 1e-3

// stagePair runs the same tokens through CPU stages and GPU stages (split
// at the same layers) and compares.
type stagePair struct {
	cpu, gpu []agent.Compute
	cpuKV    []agent.KV
	gpuKV    []agent.KV
}

func newPair(t *testing.T, m *model.Model, src []byte, splits []int, opts Options, positions int) *stagePair {
	t.Helper()
	ctx := context.Background()
	opts.Device = dev
	opts.Source = bytes.NewReader(src)
	layers := m.Config.Layers
	bounds := append(append([]int{0}, splits...), layers)
	p := &stagePair{}
	for i := 0; i+1 < len(bounds); i++ {
		r := worker.Range{Begin: bounds[i], End: bounds[i+1], First: i == 0, Last: i+2 == len(bounds)}
		c, err := agent.CPU(ctx, m, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		g, err := NewStage(ctx, m, r, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		o := worker.Options{Positions: positions}
		ckv, err := c.NewKV(o)
		if err != nil {
			t.Fatal(err)
		}
		gkv, err := g.NewKV(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(gkv.(*KV).Release)
		p.cpu, p.gpu = append(p.cpu, c), append(p.gpu, g)
		p.cpuKV, p.gpuKV = append(p.cpuKV, ckv), append(p.gpuKV, gkv)
	}
	return p
}

// run feeds tokens at pos through one chain of stages and returns the
// logits of every position.
func run(t *testing.T, stages []agent.Compute, kvs []agent.KV, tokens []int, pos int) []float32 {
	t.Helper()
	c := stages[0].Config()
	x := make([]float32, len(tokens)*c.Dim)
	if err := stages[0].Embed(x, tokens); err != nil {
		t.Fatal(err)
	}
	for i, s := range stages {
		if err := s.Forward(kvs[i], x, pos, len(tokens)); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]float32, len(tokens)*c.Vocab)
	if err := stages[len(stages)-1].Logits(out, x, len(tokens)); err != nil {
		t.Fatal(err)
	}
	return out
}

// generate runs prompt then steps greedy tokens on both backends,
// comparing logits at every position and the tokens chosen.
func (p *stagePair) generate(t *testing.T, prompt []int, steps int) {
	t.Helper()
	vocab := p.cpu[0].Config().Vocab
	want := run(t, p.cpu, p.cpuKV, prompt, 0)
	got := run(t, p.gpu, p.gpuKV, prompt, 0)
	compareLogits(t, "prompt", got, want, vocab)
	next := kernels.Argmax(want[len(want)-vocab:])
	pos := len(prompt)
	var gen []int
	for step := range steps {
		want := run(t, p.cpu, p.cpuKV, []int{next}, pos)
		got := run(t, p.gpu, p.gpuKV, []int{next}, pos)
		if !compareLogits(t, fmt.Sprintf("step %d", step), got, want, vocab) {
			return
		}
		gn, wn := kernels.Argmax(got), kernels.Argmax(want)
		if gn != wn {
			t.Fatalf("step %d: GPU picks %d, CPU %d (after %v)", step, gn, wn, gen)
		}
		gen = append(gen, wn)
		next = wn
		pos++
		if step%2 == 0 {
			time.Sleep(3 * time.Millisecond) // as a worker waits for its next input: the next step is recorded ahead
		}
	}
	for i, g := range p.gpu {
		if s := g.(*Stage); steps >= 2 && len(s.blocks) > 0 && s.prepared == 0 {
			t.Errorf("stage %d: no decoding step was recorded ahead", i)
		}
	}
	t.Logf("%d prompt + %d greedy tokens identical: %v", len(prompt), steps, gen)
}

func compareLogits(t *testing.T, what string, got, want []float32, vocab int) bool {
	t.Helper()
	worst, at := 0.0, 0
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if !(worst <= logitTol) {
		t.Errorf("%s: logit [%d][%d] GPU %g CPU %g (|Δ| %g > %g)", what, at/vocab, at%vocab, got[at], want[at], worst, logitTol)
		return false
	}
	return true
}

func openBundled(t *testing.T) *model.Model {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStageStories260K holds gpu.Stage to worker.Stage on the bundled
// model: a prompt (prefill through the matmul), then 64 greedy steps.
func TestStageStories260K(t *testing.T) {
	m := openBundled(t)
	prompt := append([]int{m.Tokenizer.BOS()}, m.Tokenizer.Encode("Once upon a time")...)
	for _, c := range []struct {
		name   string
		splits []int
		opts   Options
	}{
		{"whole", nil, Options{}},
		{"split-2-4/chunks/batch3", []int{2, 4}, Options{MaxChunkBytes: 4096, MaxBatch: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, m, bundled.Bytes(), c.splits, c.opts, 128)
			p.generate(t, prompt, 64)
		})
	}
}

// TestStageGreedy checks the on-GPU argmax head against Logits.
func TestStageGreedy(t *testing.T) {
	m := openBundled(t)
	p := newPair(t, m, bundled.Bytes(), nil, Options{}, 16)
	g := p.gpu[0].(*Stage)
	tokens := []int{1, 403, 407, 261, 378}
	x := make([]float32, len(tokens)*m.Config.Dim)
	if err := g.Embed(x, tokens); err != nil {
		t.Fatal(err)
	}
	if err := g.Forward(p.gpuKV[0], x, 0, len(tokens)); err != nil {
		t.Fatal(err)
	}
	picks, err := g.Greedy(x, len(tokens))
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, len(tokens)*m.Config.Vocab)
	if err := g.Logits(logits, x, len(tokens)); err != nil {
		t.Fatal(err)
	}
	for i, pk := range picks {
		if want := kernels.Argmax(logits[i*m.Config.Vocab : (i+1)*m.Config.Vocab]); pk != want {
			t.Errorf("position %d: Greedy %d, argmax of Logits %d", i, pk, want)
		}
	}
}

// TestStageGreedyAhead: once Greedy takes a decoding step's output, the
// last stage's next steps run the final norm, output head and argmax in
// the step's own command buffer, and Greedy returns that pick without a
// submission: the CPU reference's argmax at every step, the same as
// Logits gives; a session that asks Logits instead stops it, and
// HeadApart never starts it.
func TestStageGreedyAhead(t *testing.T) {
	m := openBundled(t)
	c := m.Config
	for _, apart := range []bool{false, true} {
		t.Run(fmt.Sprintf("apart=%v", apart), func(t *testing.T) {
			p := newPair(t, m, bundled.Bytes(), nil, Options{HeadApart: apart}, 64)
			g := p.gpu[0].(*Stage)
			prompt := []int{1, 403, 407, 261, 378}
			want := run(t, p.cpu, p.cpuKV, prompt, 0)
			run(t, p.gpu, p.gpuKV, prompt, 0)
			next := kernels.Argmax(want[len(want)-c.Vocab:])
			const steps, logitsAt = 10, 6 // the step that asks Logits instead
			for pos := len(prompt); pos < len(prompt)+steps; pos++ {
				cpu := run(t, p.cpu, p.cpuKV, []int{next}, pos)
				x := make([]float32, c.Dim)
				if err := g.Embed(x, []int{next}); err != nil {
					t.Fatal(err)
				}
				if err := g.Forward(p.gpuKV[0], x, pos, 1); err != nil {
					t.Fatal(err)
				}
				logits := make([]float32, c.Vocab)
				if pos-len(prompt) == logitsAt {
					if err := g.Logits(logits, append([]float32(nil), x...), 1); err != nil {
						t.Fatal(err)
					}
					next = kernels.Argmax(logits)
				} else {
					picks, err := g.Greedy(x, 1)
					if err != nil {
						t.Fatal(err)
					}
					if err := g.Logits(logits, append([]float32(nil), x...), 1); err != nil {
						t.Fatal(err)
					}
					if picks[0] != kernels.Argmax(logits) {
						t.Fatalf("position %d: Greedy picks %d, argmax of Logits %d", pos, picks[0], kernels.Argmax(logits))
					}
					next = picks[0]
				}
				if w := kernels.Argmax(cpu); next != w {
					t.Fatalf("position %d: GPU picks %d, CPU %d", pos, next, w)
				}
			}
			// Every step but the first and the one after Logits ran the
			// head ahead.
			want2 := steps - 2
			if apart {
				want2 = 0
			}
			if g.headsAhead != want2 {
				t.Errorf("%d steps ran the head ahead, want %d", g.headsAhead, want2)
			}
		})
	}
}

// TestStageEmbedForward: a first stage's EmbedForward gives what Embed
// then Forward give, bit for bit, over a prompt and decoding steps (the
// lookup then in the step's command buffer, the head too where the stage
// is also the last and Greedy takes its outputs); bad tokens are refused.
func TestStageEmbedForward(t *testing.T) {
	m := openBundled(t)
	c := m.Config
	for _, tc := range []struct {
		name   string
		splits []int
		greedy bool
	}{{"first of two", []int{2}, false}, {"whole, greedy", nil, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, m, bundled.Bytes(), tc.splits, Options{}, 64)
			g := p.gpu[0].(*Stage)
			apart, err := g.NewKV(worker.Options{Positions: 64})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(apart.(*KV).Release)
			tokens := []int{1, 403, 407, 261, 378}
			pos := 0
			for step := range 10 {
				want := make([]float32, len(tokens)*c.Dim)
				if err := g.Embed(want, tokens); err != nil {
					t.Fatal(err)
				}
				if err := g.Forward(apart, want, pos, len(tokens)); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, len(tokens)*c.Dim)
				if err := g.EmbedForward(p.gpuKV[0], got, tokens, pos); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f32Bytes(got), f32Bytes(want)) {
					t.Fatalf("step %d: EmbedForward differs from Embed then Forward", step)
				}
				pos += len(tokens)
				next := 300 + step
				if tc.greedy {
					picks, err := g.Greedy(got[len(got)-c.Dim:], 1)
					if err != nil {
						t.Fatal(err)
					}
					next = picks[0]
				}
				tokens = []int{next}
			}
			if k := p.gpuKV[0].(*KV); k.steps[1] == nil && k.steps[3] == nil {
				t.Error("no decoding step looked its token up in its own command buffer")
			}
			if tc.greedy && g.headsAhead == 0 {
				t.Error("no decoding step ran the head ahead")
			}
			x := make([]float32, c.Dim)
			if err := g.EmbedForward(p.gpuKV[0], x, []int{c.Vocab}, pos); err == nil {
				t.Error("a token past the vocabulary was accepted")
			}
			if err := g.EmbedForward(p.gpuKV[0], x[:1], []int{1}, pos); !errors.Is(err, worker.ErrShape) {
				t.Errorf("a short x gave %v, want worker.ErrShape", err)
			}
		})
	}
}

func TestSetApart(t *testing.T) {
	var o Options
	if err := o.SetApart("rope, head,embed"); err != nil || o.Unfused || !o.RopeApart || !o.HeadApart || !o.EmbedApart {
		t.Errorf("rope, head,embed: %+v, %v", o, err)
	}
	o = Options{}
	if err := o.SetApart("unfused,norm"); !errors.Is(err, ErrOption) || o.RopeApart {
		t.Errorf("an unknown name was accepted: %+v", o)
	}
	if err := o.SetApart(""); err != nil {
		t.Error(err)
	}
}

// quantizedSynth writes a random synth model and re-encodes its matrices
// in the given types, all in memory.
func quantizedSynth(t *testing.T, spec synth.Spec, types map[string]kernels.DType) []byte {
	t.Helper()
	w, err := synth.NewWriter(spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	var f32 bytes.Buffer
	if _, err := w.WriteTo(&f32); err != nil {
		t.Fatal(err)
	}
	src := bytes.NewReader(f32.Bytes())
	f, err := gguf.Read(src, int64(f32.Len()))
	if err != nil {
		t.Fatal(err)
	}
	out := gguf.NewWriter()
	for _, kv := range f.KV {
		if kv.Key != gguf.KeyAlignment {
			out.Add(kv.Key, kv.Value)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, err := f.ReadTensor(src, ti)
		if err != nil {
			t.Fatal(err)
		}
		typ, ok := types[roleName(ti.Name)]
		if !ok || len(ti.Dims) != 2 {
			out.AddTensorBytes(ti.Name, ti.Type, ti.Dims, data)
			continue
		}
		vals := make([]float32, ti.Elements())
		mustCodec(t, ti.Type).Dequantize(vals, data)
		rb, _ := typ.RowBytes(int64(ti.Dims[0]))
		q := make([]byte, rb*int64(ti.Dims[1]))
		mustCodec(t, typ).Quantize(q, vals)
		out.AddTensorBytes(ti.Name, typ, ti.Dims, q)
	}
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// roleName strips "blk.N." from a tensor name.
func roleName(name string) string {
	var i int
	if _, err := fmt.Sscanf(name, "blk.%d.", &i); err == nil {
		return name[len(fmt.Sprintf("blk.%d.", i)):]
	}
	return name
}

// TestStageQuantizedSynth runs a random model whose matrices are Q4_0,
// Q4_K, Q6_K and Q8_0 (grouped-query attention, untied head), whole and
// split, then with a sliding window.
func TestStageQuantizedSynth(t *testing.T) {
	spec := synth.Spec{Dim: 256, Layers: 3, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 320, Context: 256, Untied: true, Name: "synth-q"}
	types := map[string]kernels.DType{
		"token_embd.weight": kernels.Q8_0, "output.weight": kernels.Q6_K,
		"attn_q.weight": kernels.Q4_0, "attn_k.weight": kernels.Q4_0, "attn_v.weight": kernels.Q6_K,
		"attn_output.weight": kernels.Q4_K, "ffn_gate.weight": kernels.Q4_K, "ffn_up.weight": kernels.Q4_0,
		"ffn_down.weight": kernels.Q6_K,
	}
	data := quantizedSynth(t, spec, types)
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 300, 301, 302, 303, 304, 305, 306, 307, 308}
	t.Run("whole", func(t *testing.T) {
		newPair(t, m, data, nil, Options{}, 96).generate(t, prompt, 24)
	})
	t.Run("split/chunks", func(t *testing.T) {
		newPair(t, m, data, []int{1}, Options{MaxChunkBytes: 16 << 10}, 96).generate(t, prompt, 8)
	})
	t.Run("window", func(t *testing.T) {
		m.Config.SlidingWindow = 6
		defer func() { m.Config.SlidingWindow = 0 }()
		newPair(t, m, data, nil, Options{MaxBatch: 4}, 96).generate(t, prompt, 16)
	})
	t.Run("unfused", func(t *testing.T) {
		newPair(t, m, data, []int{2}, Options{Unfused: true}, 96).generate(t, prompt, 8)
	})
}

// TestStageStacked runs stages whose q/k/v and gate/up stack into one
// matrix each (one type per block), with the layer fused as decoding
// records it, against the CPU reference: whole, in row chunks that cut
// across the stacked tensors, and with RoPE a dispatch of its own.
func TestStageStacked(t *testing.T) {
	spec := synth.Spec{Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 320, Context: 256, Untied: true, Name: "synth-stacked"}
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K} {
		t.Run(typ.String(), func(t *testing.T) {
			types := map[string]kernels.DType{"token_embd.weight": kernels.Q8_0, "output.weight": kernels.Q8_0}
			for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
				types[n+".weight"] = typ
			}
			data := quantizedSynth(t, spec, types)
			m, err := model.Load(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			prompt := []int{1, 300, 301, 302, 303, 304}
			pair := newPair(t, m, data, nil, Options{}, 64)
			pair.generate(t, prompt, 12)
			s, kv := pair.gpu[0].(*Stage), pair.gpuKV[0].(*KV)
			if n := kv.decode.Dispatches(1, 0); n != 9*spec.Layers { // see Stage.record
				t.Errorf("a decoding step takes %d dispatches, want %d", n, 9*spec.Layers)
			}
			if len(s.blocks[0].qkv.ws) != 1 || len(s.blocks[0].gateUp.ws) != 1 {
				t.Error("q/k/v or gate/up not stacked")
			}
			newPair(t, m, data, []int{1}, Options{MaxChunkBytes: 20 << 10}, 64).generate(t, prompt, 6)
			apart := newPair(t, m, data, nil, Options{RopeApart: true}, 64)
			apart.generate(t, prompt, 4)
			if n := apart.gpuKV[0].(*KV).decode.Dispatches(1, 0); n != 10*spec.Layers {
				t.Errorf("RopeApart: a decoding step takes %d dispatches, want %d", n, 10*spec.Layers)
			}
		})
	}
}

// asQwen2 rewrites a llama GGUF as a qwen2 one (NeoX RoPE, q/k/v biases):
// its metadata under qwen2's keys, and random biases for every block.
func asQwen2(t *testing.T, data []byte) []byte {
	t.Helper()
	src := bytes.NewReader(data)
	f, err := gguf.Read(src, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	out := gguf.NewWriter()
	for _, kv := range f.KV {
		switch {
		case kv.Key == gguf.KeyAlignment:
		case kv.Key == "general.architecture":
			out.Add(kv.Key, gguf.String("qwen2"))
		default:
			key, _ := strings.CutPrefix(kv.Key, "llama.")
			if key != kv.Key {
				key = "qwen2." + key
			}
			out.Add(key, kv.Value)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		b, err := f.ReadTensor(src, ti)
		if err != nil {
			t.Fatal(err)
		}
		out.AddTensorBytes(ti.Name, ti.Type, ti.Dims, b)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for l := range c.Layers {
		for _, p := range []Part{{"attn_q.bias", c.QDim()}, {"attn_k.bias", c.KVDim()}, {"attn_v.bias", c.KVDim()}} {
			out.AddTensorBytes(model.BlockTensor(l, p.Name), kernels.F32, []uint64{uint64(p.Rows)}, f32Bytes(randVec(r, p.Rows, 0.5)))
		}
	}
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStageQKVBias runs a qwen2-shaped stage (NeoX RoPE, q/k/v biases)
// against the CPU reference: decoding folds RoPE and the bias into split
// attention's first pass (nine dispatches a layer), and with RopeApart
// both are dispatches of their own (eleven). A sequence decoding beside
// another through ForwardBatch (the bias a dispatch of the batch's) gets
// its solo hidden states bit for bit.
func TestStageQKVBias(t *testing.T) {
	spec := synth.Spec{Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 320, Context: 256, Untied: true, Name: "synth-qwen"}
	types := map[string]kernels.DType{"token_embd.weight": kernels.Q8_0, "output.weight": kernels.Q8_0}
	for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
		types[n+".weight"] = kernels.Q4_0
	}
	data := asQwen2(t, quantizedSynth(t, spec, types))
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config.QKVBias || m.Config.RopeStyle != model.RopeNeoX {
		t.Fatalf("not qwen2-shaped: %+v", m.Config)
	}
	prompt := []int{1, 300, 301, 302, 303, 304}
	for _, c := range []struct {
		opts Options
		want int
	}{{Options{}, 9}, {Options{RopeApart: true}, 11}} {
		pair := newPair(t, m, data, nil, c.opts, 64)
		pair.generate(t, prompt, 8)
		if n := pair.gpuKV[0].(*KV).decode.Dispatches(1, 0); n != c.want*spec.Layers {
			t.Errorf("RopeApart %v: a decoding step takes %d dispatches, want %d", c.opts.RopeApart, n, c.want*spec.Layers)
		}
	}
	chain := gpuChain(t, m, data, []int{1})
	a, b, solo := newSeq(t, chain, []int{1, 300}), newSeq(t, chain, []int{1}), newSeq(t, chain, []int{1, 300})
	stepAll(t, chain, []*batchSeq{a, b}, false)
	stepAll(t, chain, []*batchSeq{solo}, false)
	for range 5 {
		stepAll(t, chain, []*batchSeq{a, b}, false)
		stepAll(t, chain, []*batchSeq{solo}, true)
	}
	sameSeq(t, "batched beside another", a, solo)
}

func mustCodec(t *testing.T, typ kernels.DType) *kernels.Codec {
	t.Helper()
	c, err := typ.Codec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStackRefuses checks that tensors that cannot be one matrix are
// refused with model.ErrTensor and nothing allocated: types that differ,
// a missing tensor, rows that do not match the file's.
func TestStackRefuses(t *testing.T) {
	spec := synth.Spec{Dim: 256, Layers: 1, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 320, Context: 64, Untied: true, Name: "synth-refuse"}
	types := map[string]kernels.DType{"attn_q.weight": kernels.Q4_0, "attn_k.weight": kernels.Q4_0, "attn_v.weight": kernels.Q6_K}
	data := quantizedSynth(t, spec, types)
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := RowsOf(m, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	q, k, v := Part{"blk.0.attn_q.weight", 256}, Part{"blk.0.attn_k.weight", 128}, Part{"blk.0.attn_v.weight", 128}
	if !Stackable(m, []Part{q, k}, 256) {
		t.Error("q and k of one type do not stack")
	}
	for _, c := range []struct {
		what  string
		parts []Part
	}{
		{"types differ", []Part{q, k, v}},
		{"missing", []Part{q, {"blk.0.attn_x.weight", 128}}},
		{"rows", []Part{q, {"blk.0.attn_k.weight", 129}}},
	} {
		if Stackable(m, c.parts, 256) {
			t.Errorf("%s: stackable", c.what)
		}
		w, err := dev.LoadStacked(context.Background(), m, rows, c.parts, 256, 0)
		if !errors.Is(err, model.ErrTensor) || w != nil {
			t.Errorf("%s: LoadStacked gave %v, %v; want model.ErrTensor", c.what, w, err)
		}
	}
}
