package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/chattemplate"
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
		{[]string{"--preset", "stories260k", "--layers", "-1", "--out", filepath.Join(dir, "a.gguf")}},
		{[]string{"--preset", "stories260k", "--layers", "6", "--out", filepath.Join(dir, "a.gguf")}},
	} {
		if _, errOut, code := tabshard(t, append([]string{"synth"}, c.args...)...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q", c.args, code, errOut)
		}
	}
}

// synth --layers keeps the preset's shape but only its first blocks: a
// file the size of one stage of a large model.
func TestSynthLayers(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cut.gguf")
	if _, errOut, code := tabshard(t, "synth", "--preset", "stories260k", "--layers", "2", "--weights", "random", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := model.Load(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Layers != 2 || m.Config.Dim != 64 || !m.Has("blk.1.ffn_down.weight") || m.Has("blk.2.attn_q.weight") {
		t.Fatalf("config %+v", m.Config)
	}
}

// synth --chat-template writes a template the model then renders chats
// with; one that does not compile is a usage error.
func TestSynthChatTemplate(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "chat.jinja")
	if err := os.WriteFile(tmpl, []byte("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "s.gguf")
	if _, errOut, code := tabshard(t, "synth", "--preset", "stories260k", "--weights", "random", "--chat-template", tmpl, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	chat, fromFile, err := m.ChatTemplate()
	if err != nil || !fromFile {
		t.Fatalf("chat template from file %v: %v", fromFile, err)
	}
	got, err := chat.Render([]chattemplate.Message{{Role: "user", Content: "Hi"}}, true, time.Unix(0, 0))
	if err != nil || got != "<|user|>Hi<|assistant|>" {
		t.Fatalf("rendered %q, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.jinja")
	os.WriteFile(bad, []byte("{% for m in messages %}"), 0o644)
	if _, errOut, code := tabshard(t, "synth", "--preset", "stories260k", "--chat-template", bad, "--out", filepath.Join(dir, "b.gguf")); code != 2 || !strings.Contains(errOut, "chat template") {
		t.Fatalf("broken template: exit %d %q", code, errOut)
	}
}
