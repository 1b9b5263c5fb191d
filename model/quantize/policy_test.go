package quantize_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/quantize"
)

func TestMixedPolicyTable(t *testing.T) {
	p, err := quantize.Parse("mixed")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		dims []uint64
		want kernels.DType
	}{
		{"token_embd.weight", []uint64{4096, 128256}, kernels.Q8_0},
		{"blk.0.attn_q.weight", []uint64{4096, 4096}, kernels.Q8_0},
		{"blk.0.attn_k.weight", []uint64{4096, 1024}, kernels.Q8_0},
		{"blk.0.attn_v.weight", []uint64{4096, 1024}, kernels.Q8_0},
		{"blk.0.attn_output.weight", []uint64{4096, 4096}, kernels.Q4_K},
		{"blk.0.ffn_gate.weight", []uint64{4096, 14336}, kernels.Q4_K},
		{"blk.0.ffn_up.weight", []uint64{4096, 14336}, kernels.Q4_K},
		{"blk.0.ffn_down.weight", []uint64{14336, 4096}, kernels.Q4_K},
		{"blk.0.attn_norm.weight", []uint64{4096}, kernels.F32},
		{"blk.0.attn_q.bias", []uint64{4096}, kernels.F32},
		{"output_norm.weight", []uint64{4096}, kernels.F32},
		{"output.weight", []uint64{4096, 128256}, kernels.Q8_0},
	}
	for _, c := range cases {
		if got := p.TypeFor(c.name, c.dims); got.Type != c.want || got.Note != "" {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}

func TestFallbackToWiderType(t *testing.T) {
	cases := []struct {
		policy string
		cols   uint64
		want   kernels.DType
	}{
		{"q4_k", 64, kernels.Q4_0},   // 64 is whole 32-blocks, not 256-blocks
		{"q2_k", 64, kernels.Q4_0},   // the narrowest 32-block type
		{"q3_k", 4096, kernels.Q3_K}, // fits: no fallback
		{"q8_0", 172, kernels.F16},   // stories260K's feed-forward width
		{"q4_0", 172, kernels.F16},
		{"f16", 172, kernels.F16},
	}
	for _, c := range cases {
		p, _ := quantize.Parse(c.policy)
		got := p.TypeFor("blk.0.ffn_down.weight", []uint64{c.cols, 64})
		if got.Type != c.want {
			t.Errorf("%s with rows of %d: %s, want %s", c.policy, c.cols, got.Type, c.want)
		}
		if (got.Type != got.Requested) != (got.Note != "") || (got.Note != "" && !strings.Contains(got.Note, "ffn_down")) {
			t.Errorf("%s with rows of %d: note %q", c.policy, c.cols, got.Note)
		}
	}
}

func TestOverrides(t *testing.T) {
	p, _ := quantize.Parse("q4_0")
	if err := p.Override("blk.*.ffn_down.weight", "q8_0"); err != nil {
		t.Fatal(err)
	}
	if err := p.Override("blk.1.ffn_down.weight", "f16"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]kernels.DType{
		"blk.0.ffn_down.weight": kernels.Q8_0,
		"blk.1.ffn_down.weight": kernels.F16, // the later override wins
		"blk.0.ffn_up.weight":   kernels.Q4_0,
	} {
		if got := p.TypeFor(name, []uint64{256, 256}); got.Type != want {
			t.Errorf("%s: %s, want %s", name, got.Type, want)
		}
	}
}

func TestPolicyRejects(t *testing.T) {
	if _, err := quantize.Parse("q5_k_m"); !errors.Is(err, quantize.ErrPolicy) || !strings.Contains(err.Error(), "q5_k_m") {
		t.Errorf("unknown policy: %v", err)
	}
	p, _ := quantize.Parse("q4_0")
	if err := p.Override("blk.*", "q9_9"); !errors.Is(err, quantize.ErrPolicy) || !strings.Contains(err.Error(), "q9_9") {
		t.Errorf("unknown type: %v", err)
	}
	if err := p.Override("blk.[", "q8_0"); !errors.Is(err, quantize.ErrPolicy) {
		t.Errorf("bad pattern: %v", err)
	}
}
