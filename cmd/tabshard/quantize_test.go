package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestQuantizeThenGenerateAndEval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q8.gguf")
	stdout, errOut, code := tabshard(t, "quantize", "--in", modelFiles["v3"], "--out", out, "--policy", "q8_0", "--tensor-type", "output.weight=f16")
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, "bits per weight") || !strings.Contains(errOut, "note: 5 tensor(s) with rows of 172 use F16 instead of Q8_0") ||
		strings.Count(errOut, "note:") != 1 {
		t.Fatalf("quantize output %q, notes %q", stdout, errOut)
	}
	table, _, _ := tabshard(t, "inspect", out)
	for _, want := range []string{"blk.0.attn_q.weight  Q8_0", "blk.0.ffn_down.weight  F16", "output.weight  F16", "general.file_type"} {
		if !strings.Contains(strings.Join(strings.Fields(table), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("inspect of the quantized file lacks %q", want)
		}
	}
	text, errOut, code := tabshard(t, "generate", "--model", out, "--steps", "40", "--temperature", "0")
	if code != 0 || !strings.HasPrefix(text, "Once upon a time") {
		t.Fatalf("generate on the quantized file: exit %d %q %s", code, text, errOut)
	}
	report, errOut, code := tabshard(t, "eval", "--model", out, "--reference", modelFiles["v3"], "--steps", "50")
	if code != 0 || !strings.Contains(report, "top-1 agreement") || !strings.Contains(report, "mean KL") {
		t.Fatalf("eval: exit %d %q %s", code, report, errOut)
	}
}

func TestQuantizeRefusesPolicyThatCannotApply(t *testing.T) {
	// stories260K's rows are 64 and 172 wide: no q2_k super-block (256) fits,
	// so the file would silently be q4_0 and f16.
	out := filepath.Join(t.TempDir(), "q2k.gguf")
	_, errOut, code := tabshard(t, "quantize", "--in", modelFiles["v3"], "--out", out, "--policy", "q2_k")
	if code != 2 || !strings.Contains(errOut, "policy q2_k cannot be applied") || !strings.Contains(errOut, "use Q4_0 instead of Q2_K") {
		t.Fatalf("q2_k on stories260K: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused policy wrote %s (stat: %v)", out, err)
	}
}

func TestQuantizeBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown policy", []string{"--in", modelFiles["v3"], "--out", filepath.Join(dir, "a.gguf"), "--policy", "q7"}, `unknown policy "q7"`},
		{"unknown override type", []string{"--in", modelFiles["v3"], "--out", filepath.Join(dir, "a.gguf"), "--policy", "q8_0", "--tensor-type", "output.weight=q9_0"}, "q9_0"},
		{"malformed override", []string{"--in", modelFiles["v3"], "--out", filepath.Join(dir, "a.gguf"), "--policy", "q8_0", "--tensor-type", "output.weight"}, "PATTERN=TYPE"},
		{"missing flags", []string{"--in", modelFiles["v3"]}, "--out"},
		{"overwrite input", []string{"--in", modelFiles["v3"], "--out", modelFiles["v3"], "--policy", "q8_0"}, "overwrite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := tabshard(t, append([]string{"quantize"}, c.args...)...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q, want status 2 mentioning %q", code, errOut, c.want)
			}
		})
	}
}

func TestInspectDequant(t *testing.T) {
	out, errOut, code := tabshard(t, "inspect", modelFiles["v1"], "--tensor", "blk.0.attn_norm.weight", "--dequant")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 64 {
		t.Fatalf("%d values, want 64", len(lines))
	}
	for _, l := range lines {
		v, err := strconv.ParseFloat(l, 32)
		if err != nil || strconv.FormatFloat(float64(float32(v)), 'g', 9, 32) != l {
			t.Fatalf("value %q does not round-trip", l)
		}
	}
	if _, errOut, code := tabshard(t, "inspect", modelFiles["v1"], "--tensor", "nope", "--dequant"); code != 1 || !strings.Contains(errOut, `no tensor "nope"`) {
		t.Fatalf("unknown tensor: exit %d %q", code, errOut)
	}
	if _, _, code := tabshard(t, "inspect", modelFiles["v1"], "--dequant"); code != 2 {
		t.Fatalf("--dequant without --tensor: exit %d", code)
	}
}
