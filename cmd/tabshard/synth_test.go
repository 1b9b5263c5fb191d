package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSynthLlama70BSparse(t *testing.T) {
	out := filepath.Join(t.TempDir(), "l70.gguf")
	stdout, errOut, code := tabshard(t, "synth", "--preset", "llama-3-70b", "--policy", "q4_k", "--out", out)
	if code != 0 || !strings.Contains(stdout, "llama-3-70b at q4_k") {
		t.Fatalf("exit %d: %s %s", code, stdout, errOut)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 39e9 {
		t.Fatalf("file size %d, want about 39.7 GB", st.Size())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 > 64<<20 {
		t.Logf("the file system does not keep holes: %d bytes on disk", sys.Blocks*512)
	}
	table, _, code := tabshard(t, "inspect", out)
	if code != 0 || !strings.Contains(table, "723 tensors") {
		t.Fatalf("inspect: exit %d", code)
	}
}

func TestSynthBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ args []string }{
		{[]string{"--preset", "llama-9-9b", "--out", filepath.Join(dir, "a.gguf")}},
		{[]string{"--preset", "llama-3-8b", "--policy", "q1", "--out", filepath.Join(dir, "a.gguf")}},
		{[]string{"--preset", "llama-3-8b", "--weights", "ones", "--out", filepath.Join(dir, "a.gguf")}},
		{[]string{"--preset", "llama-3-8b"}},
	} {
		if _, errOut, code := tabshard(t, append([]string{"synth"}, c.args...)...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q", c.args, code, errOut)
		}
	}
}
