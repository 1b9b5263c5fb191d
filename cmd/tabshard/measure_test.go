package main

import (
	"errors"
	"math"
	"testing"

	"github.com/tabshard/tabshard/model/gguf"
)

func TestMeasureFitsTheModelContext(t *testing.T) {
	f, src, err := gguf.Open(modelFiles["v3"])
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	cases := []struct {
		prompt, tokens         int
		wantPrompt, wantTokens int
		wantErr                bool
	}{
		{0, 0, 128, 128, false},   // stories260K: a context of 512
		{400, 0, 400, 111, false}, // what is left after the prompt
		{0, 64, 128, 64, false},
		{512, 128, 0, 0, true}, // the old defaults: refused with the numbers
		{100, 412, 0, 0, true},
	}
	for _, c := range cases {
		r := &measureReport{PromptTokens: c.prompt, Tokens: c.tokens}
		err := r.fitContext(f)
		if c.wantErr {
			if !errors.Is(err, errUsage) {
				t.Errorf("prompt %d, tokens %d: err %v, want a usage error", c.prompt, c.tokens, err)
			}
			continue
		}
		if err != nil || r.PromptTokens != c.wantPrompt || r.Tokens != c.wantTokens {
			t.Errorf("prompt %d, tokens %d: got %d, %d (%v), want %d, %d", c.prompt, c.tokens, r.PromptTokens, r.Tokens, err, c.wantPrompt, c.wantTokens)
		}
	}
}

func TestDecimalSize(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 999: "999 B", 1000: "1.00 kB", 1_234_567: "1.23 MB", 39.7e9: "39.70 GB"} {
		if got := decimalSize(n); got != want {
			t.Errorf("decimalSize(%v) = %q, want %q", n, got, want)
		}
	}
}

func TestHistogramQuantileOfTheRunOnly(t *testing.T) {
	k := func(le string) string { return `tabshard_x_seconds_bucket{phase="a",le="` + le + `"}` }
	before := map[string]float64{k("0.001"): 5, k("0.002"): 5, k("0.004"): 5, k("+Inf"): 5}
	// The run adds 10 observations: 2 under 1 ms, 6 in (1, 2] ms, 2 in (2, 4] ms.
	after := map[string]float64{k("0.001"): 7, k("0.002"): 13, k("0.004"): 15, k("+Inf"): 15,
		`tabshard_x_seconds_bucket{phase="b",le="0.001"}`: 99}
	if got, want := histogramQuantile(before, after, "tabshard_x_seconds", `phase="a"`, 0.5), 0.0015; math.Abs(got-want) > 1e-12 {
		t.Errorf("p50 = %v, want %v (rank 5 of 10: half-way through the (1, 2] ms bucket)", got, want)
	}
	if got := histogramQuantile(before, after, "tabshard_x_seconds", `phase="c"`, 0.5); got != 0 {
		t.Errorf("p50 of a series with no observations = %v, want 0", got)
	}
	if got := histogramQuantile(after, after, "tabshard_x_seconds", `phase="a"`, 0.5); got != 0 {
		t.Errorf("p50 with nothing observed between the scrapes = %v, want 0", got)
	}
}
