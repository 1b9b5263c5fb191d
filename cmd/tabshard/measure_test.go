package main

import (
	"errors"
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
