package worker_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

// midSpec is large enough that matmuls and attention spread over the cores
// and take the assembly paths, small enough for a unit test.
var midSpec = synth.Spec{Dim: 256, Layers: 2, Heads: 8, KVHeads: 4, FFNDim: 512, Vocab: 512, Context: 256, Untied: true}

// openSynthAs writes s and, for a policy other than "", quantizes it with
// that policy.
func openSynthAs(t *testing.T, s synth.Spec, policy string) *model.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, s, 7); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		p, err := quantize.Parse(policy)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), policy+".gguf")
		if _, err := quantize.Rewrite(context.Background(), path, out, quantize.Options{Policy: p}); err != nil {
			t.Fatal(err)
		}
		path = out
	}
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sequence is one session of the batch test: its tokens, and the logits
// of every position (solo[p]) when it runs alone.
type sequence struct {
	tokens []int
	solo   [][]float32
}

// soloLogits runs tokens one step at a time (a prompt of prompt positions
// first) on a stage of its own: the reference a batch must equal.
func soloLogits(t *testing.T, st *worker.Stage, o worker.Options, tokens []int, prompt int) [][]float32 {
	t.Helper()
	kv, err := st.NewKV(o)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for pos := 0; pos < len(tokens); {
		n := 1
		if pos == 0 {
			n = prompt
		}
		out = append(out, stepLogits(t, st, []worker.Step{{KV: kv, Pos: pos, N: n}}, [][]int{tokens[pos : pos+n]})...)
		pos += n
	}
	return out
}

// stepLogits runs one batch and returns the logits of each row.
func stepLogits(t *testing.T, st *worker.Stage, steps []worker.Step, toks [][]int) [][]float32 {
	t.Helper()
	c := st.Config()
	var all []int
	for _, tk := range toks {
		all = append(all, tk...)
	}
	x := make([]float32, len(all)*c.Dim)
	if err := st.Embed(x, all); err != nil {
		t.Fatal(err)
	}
	var err error
	if len(steps) == 1 {
		err = st.Forward(steps[0].KV, x, steps[0].Pos, steps[0].N)
	} else {
		err = st.ForwardBatch(steps, x)
	}
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, len(all)*c.Vocab)
	if err := st.Logits(logits, x, len(all)); err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, len(all))
	for i := range rows {
		rows[i] = logits[i*c.Vocab : (i+1)*c.Vocab]
	}
	return rows
}

// TestBatchInvariance: sessions at different positions, some in prefill
// pieces and some decoding, run in batches of changing size and
// composition; every logit of every session equals, bit for bit, its
// logit when the session runs alone — for F32, F16 and Q8_0 weights, F32,
// F16 and Q8_0 caches, a sliding window, on one core and on several.
func TestBatchInvariance(t *testing.T) {
	cases := []struct {
		name   string
		spec   synth.Spec
		policy string // quantization of the weights, "" for none
		kv     worker.KVOptions
	}{
		{"f32", midSpec, "", worker.KVOptions{}},
		{"f16-weights-q8-cache", withType(midSpec, kernels.F16), "", worker.KVOptions{Type: kernels.Q8_0}},
		{"f16-cache-window", midSpec, "", worker.KVOptions{Type: kernels.F16, Window: 24}},
		{"q8-weights", midSpec, "q8_0", worker.KVOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := openSynthAs(t, c.spec, c.policy)
			st, err := worker.NewStage(m, worker.Whole(m.Config.Layers))
			if err != nil {
				t.Fatal(err)
			}
			o := worker.Options{Positions: 96, KV: c.kv}
			r := rand.New(rand.NewPCG(1, 2))
			seqs := make([]*sequence, 7)
			for i := range seqs {
				toks := make([]int, 40+r.IntN(40))
				for j := range toks {
					toks[j] = r.IntN(m.Config.Vocab)
				}
				seqs[i] = &sequence{tokens: toks}
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
					seqs[i].solo = soloLogits(t, st, o, toks, 1+i*3)
				}()
			}
			for _, procs := range []int{1, 2, 4} {
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					checkBatched(t, st, o, seqs, rand.New(rand.NewPCG(uint64(procs), 3)))
				}()
			}
		})
	}
}

func withType(s synth.Spec, t kernels.DType) synth.Spec {
	s.Type = t
	return s
}

// checkBatched runs the sequences together, each step picking a random
// subset of them (each a random number of positions: prefill pieces or
// one), and compares every row with the solo run.
func checkBatched(t *testing.T, st *worker.Stage, o worker.Options, seqs []*sequence, r *rand.Rand) {
	t.Helper()
	kvs := make([]*worker.KVCache, len(seqs))
	next := make([]int, len(seqs))
	for i := range seqs {
		kv, err := st.NewKV(o)
		if err != nil {
			t.Fatal(err)
		}
		kvs[i] = kv
	}
	for batches := 0; ; batches++ {
		var steps []worker.Step
		var toks [][]int
		var who []int
		for i, s := range seqs {
			if next[i] >= len(s.tokens) || r.IntN(3) == 0 {
				continue
			}
			n := min(1+r.IntN(6)*r.IntN(2), len(s.tokens)-next[i])
			steps = append(steps, worker.Step{KV: kvs[i], Pos: next[i], N: n})
			toks = append(toks, s.tokens[next[i]:next[i]+n])
			who = append(who, i)
		}
		if len(steps) == 0 {
			if done(next, seqs) {
				return
			}
			continue
		}
		rows := stepLogits(t, st, steps, toks)
		k := 0
		for j, i := range who {
			for p := steps[j].Pos; p < steps[j].Pos+steps[j].N; p++ {
				want := seqs[i].solo[p]
				for v := range want {
					if rows[k][v] != want[v] {
						t.Fatalf("GOMAXPROCS=%d batch %d (%d sessions): session %d position %d logit %d: %v batched, %v alone",
							runtime.GOMAXPROCS(0), batches, len(steps), i, p, v, rows[k][v], want[v])
					}
				}
				k++
			}
			next[i] += steps[j].N
		}
	}
}

func done(next []int, seqs []*sequence) bool {
	for i, s := range seqs {
		if next[i] < len(s.tokens) {
			return false
		}
	}
	return true
}

func TestForwardBatchRejectsBadInput(t *testing.T) {
	m := openBundled(t)
	st, err := worker.NewStage(m, worker.Whole(m.Config.Layers))
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := st.NewKV(worker.Options{Positions: 8})
	other, _ := st.NewKV(worker.Options{Positions: 8})
	d := m.Config.Dim
	cases := []struct {
		name  string
		steps []worker.Step
		x     int
		want  error
	}{
		{"shared cache", []worker.Step{{KV: kv, Pos: 0, N: 1}, {KV: kv, Pos: 1, N: 1}}, 2 * d, worker.ErrShape},
		{"past the cache", []worker.Step{{KV: kv, Pos: 7, N: 2}, {KV: other, N: 1}}, 3 * d, worker.ErrPosition},
		{"wrong size", []worker.Step{{KV: kv, N: 1}, {KV: other, N: 1}}, 3 * d, worker.ErrShape},
	}
	for _, c := range cases {
		if err := st.ForwardBatch(c.steps, make([]float32, c.x)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
