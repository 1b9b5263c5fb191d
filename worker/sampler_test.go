package worker_test

import (
	"math"
	"testing"

	"github.com/tabshard/tabshard/worker"
)

// Temperatures so small that logits/temperature overflows float32 are the
// limit of softmax(logits/T) as T goes to 0: llama2.c's run.c turns them
// into NaN probabilities (and a text of whatever the last index is).
func TestOracleTinyTemperaturesAreGreedy(t *testing.T) {
	m := openBundled(t)
	o := readOracle(t, "once_upon_a_time_t0_n64.ids.txt")
	prompt := m.Tokenizer.Encode("Once upon a time")
	for _, temp := range []float32{1e-45, 1e-42, 1e-40, 1e-38, 1e-30} {
		for _, topP := range []float32{1, 0.9} {
			evs := run(t, m, prompt, 64, worker.NewSampler(temp, topP, 7))
			if got := sampledIDs(evs); !equalInts(got, o.generated) {
				t.Fatalf("temperature %g top_p %g: generated %v\ngreedy %v", temp, topP, got, o.generated)
			}
		}
	}
}

func TestSamplerTinyTemperatureProbabilities(t *testing.T) {
	logits := []float32{3, -1e30, 7.5, 7.25, 1e-3}
	s := worker.NewSampler(1.4e-45, 1, 1)
	if got := s.Sample(logits); got != 2 {
		t.Fatalf("sampled %d, want the argmax 2", got)
	}
	for i, p := range logits {
		want := float32(0)
		if i == 2 {
			want = 1
		}
		if p != want || math.IsNaN(float64(p)) {
			t.Fatalf("probabilities %v, want one-hot at 2", logits)
		}
	}
}

func TestPenalties(t *testing.T) {
	logits := []float32{2, -2, 1, 4}
	p := worker.Penalties{Repeat: 2, Frequency: 0.5, Presence: 0.25, Recent: []int{0, 1, 0, 99, -1}}
	p.Apply(logits)
	// id 0: seen twice, positive: 2/2 - 2*0.5 - 0.25; id 1: once, negative:
	// -2*2 - 0.5 - 0.25; ids out of range are ignored.
	want := []float32{-0.25, -4.75, 1, 4}
	for i := range want {
		if logits[i] != want[i] {
			t.Fatalf("penalised %v, want %v", logits, want)
		}
	}
	off := []float32{2, -2}
	worker.Penalties{Repeat: 1, Recent: []int{0, 1}}.Apply(off)
	if off[0] != 2 || off[1] != -2 {
		t.Fatalf("repeat penalty 1 changed logits: %v", off)
	}
}

func TestSamplerBias(t *testing.T) {
	s := worker.NewSampler(0, 1, 1)
	s.Bias = map[int]float32{0: 100, 7: 5}
	if got := s.Sample([]float32{-50, 10, 20}); got != 0 {
		t.Fatalf("biased argmax %d, want 0", got)
	}
	s.Bias = map[int]float32{2: -100}
	if got := s.Sample([]float32{-50, 10, 20}); got != 1 {
		t.Fatalf("biased argmax %d, want 1", got)
	}
}

func TestLogProbs(t *testing.T) {
	logits := []float32{1, 3, -2, 3, 0.5}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v))
	}
	lp, top := worker.LogProbs(logits, 4, 3)
	if want := 0.5 - math.Log(sum); math.Abs(float64(lp)-want) > 1e-6 {
		t.Fatalf("logprob %g, want %g", lp, want)
	}
	wantIDs := []int{1, 3, 0}
	for i, e := range top {
		if e.ID != wantIDs[i] || math.Abs(float64(e.Logprob)-(float64(logits[e.ID])-math.Log(sum))) > 1e-6 {
			t.Fatalf("top %v, want ids %v", top, wantIDs)
		}
	}
	if _, top := worker.LogProbs(logits, 0, 99); len(top) != len(logits) {
		t.Fatalf("top beyond the vocabulary: %d entries", len(top))
	}
}
