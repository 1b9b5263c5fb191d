package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/worker"
)

func greedyIDs(t *testing.T, p *worker.Pipeline, prompt []int, steps int) []int {
	t.Helper()
	var ids []int
	err := worker.Generate(context.Background(), p, worker.GenerateConfig{Prompt: prompt, Steps: steps, Sampler: worker.NewSampler(0, 0, 1), BOS: 1},
		func(ev worker.Event) error {
			if !ev.Forced {
				ids = append(ids, ev.Next)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestKVCacheF16KeepsOracle(t *testing.T) {
	m := openBundled(t)
	o := readOracle(t, "once_upon_a_time_t0_n64.ids.txt")
	p, err := worker.LoadWith(m, worker.Options{Positions: 64, KV: worker.KVOptions{Type: kernels.F16}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := greedyIDs(t, p, o.prompt, 64); !equalInts(got, o.generated) {
		t.Fatalf("f16 KV cache: %v\nrun.c %v", got, o.generated)
	}
}

func TestKVBytesPerToken(t *testing.T) {
	m := openBundled(t)
	cases := []struct {
		typ  kernels.DType
		want int64
		err  bool
	}{
		{kernels.F32, 2 * 5 * 32 * 4, false},
		{kernels.F16, 2 * 5 * 32 * 2, false},
		{kernels.Q8_0, 0, true}, // head dimension 8 is not a whole Q8_0 block
		{kernels.Q4_K, 0, true},
	}
	for _, c := range cases {
		got, err := worker.KVBytesPerToken(m.Config, 5, c.typ)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: %d, %v; want %d, error %v", c.typ, got, err, c.want, c.err)
		}
	}
	if _, err := worker.LoadWith(m, worker.Options{Positions: 8, KV: worker.KVOptions{Type: kernels.Q8_0}}); err == nil {
		t.Fatal("a Q8_0 cache with head dimension 8 was accepted")
	}
}

// A window at least as long as the sequence changes nothing; a shorter one
// caps the cache and still runs long prefills in chunks.
func TestSlidingWindow(t *testing.T) {
	m := openBundled(t)
	prompt := m.Tokenizer.Encode("Once upon a time")
	full, _ := worker.Load(m, 100)
	wide, err := worker.LoadWith(m, worker.Options{Positions: 100, KV: worker.KVOptions{Window: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := greedyIDs(t, full, prompt, 100), greedyIDs(t, wide, prompt, 100); !equalInts(a, b) {
		t.Fatalf("window 100 over 100 positions changed the output:\n%v\n%v", a, b)
	}
	long := make([]int, 200)
	for i := range long {
		long[i] = prompt[i%len(prompt)]
	}
	narrow, err := worker.LoadWith(m, worker.Options{Positions: 200, KV: worker.KVOptions{Window: 16}})
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := narrow.Run(long, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	step, _ := worker.LoadWith(m, worker.Options{Positions: 200, KV: worker.KVOptions{Window: 16}})
	v := m.Config.Vocab
	for pos, tok := range long {
		got, err := step.Run([]int{tok}, pos, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != chunked[pos*v+i] {
				t.Fatalf("pos %d: one at a time %v, batched %v", pos, got[i], chunked[pos*v+i])
			}
		}
	}
}

func TestStageRejectsBadInput(t *testing.T) {
	m := openBundled(t)
	d := m.Config.Dim
	if _, err := worker.NewStage(m, worker.Range{Begin: 3, End: 9}); !errors.Is(err, worker.ErrRange) {
		t.Errorf("blocks past the model: %v", err)
	}
	mid, err := worker.NewStage(m, worker.Range{Begin: 1, End: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mid.NewKV(worker.Options{Positions: 513}); !errors.Is(err, worker.ErrPosition) {
		t.Errorf("positions past the context: %v", err)
	}
	kv, err := mid.NewKV(worker.Options{Positions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := mid.Forward(kv, make([]float32, 2*d-1), 0, 2); !errors.Is(err, worker.ErrShape) {
		t.Errorf("short activation: %v", err)
	}
	if err := mid.Forward(kv, make([]float32, 2*d), 7, 2); !errors.Is(err, worker.ErrPosition) {
		t.Errorf("positions past the cache: %v", err)
	}
	if err := mid.Embed(make([]float32, d), []int{1}); !errors.Is(err, worker.ErrRange) {
		t.Errorf("embedding on a middle stage: %v", err)
	}
	if err := mid.Logits(make([]float32, m.Config.Vocab), make([]float32, d), 1); !errors.Is(err, worker.ErrRange) {
		t.Errorf("logits on a middle stage: %v", err)
	}
	first, _ := worker.NewStage(m, worker.Range{Begin: 0, End: 1, First: true})
	if err := first.Embed(make([]float32, d), []int{512}); err == nil {
		t.Error("token past the vocabulary accepted")
	}
	otherKV, _ := first.NewKV(worker.Options{Positions: 8})
	if err := mid.Forward(otherKV, make([]float32, d), 0, 1); !errors.Is(err, worker.ErrShape) {
		t.Errorf("another stage's KV cache: %v", err)
	}
	last, _ := worker.NewStage(m, worker.Range{Begin: 3, End: 5, Last: true})
	if _, err := worker.NewPipeline(worker.Options{Positions: 8}, first, last); !errors.Is(err, worker.ErrRange) {
		t.Errorf("a pipeline with a gap: %v", err)
	}
	if _, err := worker.NewPipeline(worker.Options{Positions: 8}); !errors.Is(err, worker.ErrRange) {
		t.Errorf("an empty pipeline: %v", err)
	}
}

func TestGenerateRejectsBadPrompt(t *testing.T) {
	m := openBundled(t)
	p, _ := worker.Load(m, 8)
	s := worker.NewSampler(0, 0, 1)
	noop := func(worker.Event) error { return nil }
	if err := worker.Generate(context.Background(), p, worker.GenerateConfig{Steps: 8, Sampler: s}, noop); !errors.Is(err, worker.ErrPrompt) {
		t.Errorf("empty prompt: %v", err)
	}
	if err := worker.Generate(context.Background(), p, worker.GenerateConfig{Prompt: make([]int, 9), Steps: 8, Sampler: s}, noop); !errors.Is(err, worker.ErrPrompt) {
		t.Errorf("prompt past the positions: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := worker.Generate(ctx, p, worker.GenerateConfig{Prompt: []int{1}, Steps: 8, Sampler: s}, noop); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestSamplerEdgeCases(t *testing.T) {
	// Temperature 0 takes the lowest index of tied maxima.
	if got := worker.NewSampler(0, 0.9, 1).Sample([]float32{1, 3, 3, 2}); got != 1 {
		t.Fatalf("argmax tie: %d", got)
	}
	// With top-p the nucleus excludes unlikely tokens whatever the coin.
	for seed := uint64(1); seed < 200; seed++ {
		logits := []float32{10, 9.5, -20, -20, -20}
		if got := worker.NewSampler(1, 0.5, seed).Sample(logits); got > 1 {
			t.Fatalf("seed %d sampled %d outside the nucleus", seed, got)
		}
	}
}
