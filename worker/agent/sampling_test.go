package agent

import (
	"context"
	"math"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// referenceLogits are the unsharded CPU pipeline's logits after each
// position of prompt and the greedy tokens that follow it.
func referenceLogits(t *testing.T, prompt []int, steps int) map[int][]float32 {
	t.Helper()
	m := stories(t)
	p, err := worker.Load(m, steps)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]float32{}
	err = worker.Generate(context.Background(), p, worker.GenerateConfig{Prompt: prompt, Steps: steps, Sampler: worker.NewSampler(0, 0, 1), BOS: -1, AllLogits: true},
		func(ev worker.Event) error {
			out[ev.Pos] = append([]float32(nil), ev.Logits...)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The last stage's log-probabilities are the log-softmax of the
// reference CPU logits, to 1e-5, and its top list is theirs in order.
func TestLogprobsMatchReferenceLogits(t *testing.T) {
	m := stories(t)
	prompt := m.Tokenizer.Encode("Once upon a time")
	const steps = 24
	ref := referenceLogits(t, prompt, steps)
	bus := &memBus{}
	p32 := make([]uint32, len(prompt))
	for i, id := range prompt {
		p32[i] = uint32(id)
	}
	drive(t, bus, pipeline(t, m, bus), p32, steps, &tabshardv1.Sampling{Temperature: 0, Logprobs: true, TopLogprobs: 5}, nil)
	worst := 0.0
	for _, tok := range bus.tokens {
		logits := ref[int(tok.GetPosition())-1]
		lse := logSumExp(logits)
		lp := tok.GetLogprobs()
		if lp == nil || len(lp.GetTop()) != 5 {
			t.Fatalf("position %d: logprobs %v, want 5 alternatives", tok.GetPosition(), lp)
		}
		worst = math.Max(worst, math.Abs(float64(lp.GetLogprob())-(float64(logits[tok.GetId()])-lse)))
		for i, e := range lp.GetTop() {
			worst = math.Max(worst, math.Abs(float64(e.GetLogprob())-(float64(logits[e.GetToken()])-lse)))
			if i > 0 && lp.GetTop()[i-1].GetLogprob() < e.GetLogprob() {
				t.Fatalf("position %d: top not in order: %v", tok.GetPosition(), lp.GetTop())
			}
		}
		if lp.GetTop()[0].GetToken() != tok.GetId() {
			t.Fatalf("position %d: greedy token %d is not the most likely %d", tok.GetPosition(), tok.GetId(), lp.GetTop()[0].GetToken())
		}
	}
	if worst > 1e-5 {
		t.Fatalf("largest logprob difference from the reference log-softmax %g > 1e-5", worst)
	}
	t.Logf("largest logprob difference from the reference log-softmax: %g", worst)
}

func logSumExp(logits []float32) float64 {
	hi := math.Inf(-1)
	for _, v := range logits {
		hi = math.Max(hi, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - hi)
	}
	return hi + math.Log(sum)
}

// Bias and penalties reach the sampler: a token biased by -100, or
// penalised by a presence penalty of 100 while in the recent window, is
// never the greedy choice.
func TestPenaltiesAndBiasReachTheSampler(t *testing.T) {
	m := stories(t)
	prompt := []uint32{1}
	bus := &memBus{}
	plain := drive(t, bus, pipeline(t, m, bus), prompt, 30, &tabshardv1.Sampling{}, nil)
	for _, c := range []struct {
		name     string
		sampling *tabshardv1.Sampling
		banned   uint32
	}{
		{"bias", &tabshardv1.Sampling{LogitBias: []*tabshardv1.LogitBias{{Token: plain[3], Bias: -100}}}, plain[3]},
		{"presence", &tabshardv1.Sampling{PresencePenalty: 100, RecentTokens: []uint32{plain[0]}}, plain[0]},
		{"repeat", &tabshardv1.Sampling{RepeatPenalty: 1e30, RecentTokens: []uint32{plain[0]}}, plain[0]},
	} {
		bus := &memBus{}
		got := drive(t, bus, pipeline(t, m, bus), prompt, 30, c.sampling, nil)
		for _, id := range got {
			if id == c.banned {
				t.Errorf("%s: token %d was sampled: %v", c.name, c.banned, got)
			}
		}
	}
}
