package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const oracleDir = "../../testdata/stories260K/"

// modelFiles are the same model as GGUF v1 and v3.
var modelFiles = map[string]string{
	"v1": oracleDir + "stories260K-f32.v1.gguf",
	"v3": "../../model/bundled/stories260K.gguf",
}

func tabshard(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func oracle(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(oracleDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenerateMatchesRunC(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"greedy", []string{"--steps", "200", "--temperature", "0"}, oracle(t, "expected_greedy_t0_n200.txt")},
		{"prompt", []string{"--steps", "64", "--temperature", "0", "--prompt", "Once upon a time"}, oracle(t, "once_upon_a_time_t0_n64.stdout.txt")},
		{"sampled", []string{"--steps", "100", "--temperature", "1", "--top-p", "0.9", "--seed", "42"}, oracle(t, "noprompt_t1_p0.9_s42_n100.stdout.txt")},
	}
	for version, file := range modelFiles {
		for _, c := range cases {
			t.Run(version+"/"+c.name, func(t *testing.T) {
				out, errOut, code := tabshard(t, append([]string{"generate", "--model", file}, c.args...)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				if out != c.want+"\n" {
					t.Fatalf("stdout differs from run.c\n got: %q\nwant: %q", out, c.want+"\n")
				}
				if !strings.Contains(errOut, "tokens/s") {
					t.Fatalf("no statistics on stderr: %q", errOut)
				}
			})
		}
	}
}

func TestGenerateBundledDefault(t *testing.T) {
	out, errOut, code := tabshard(t, "generate", "--steps", "200", "--temperature", "0")
	if code != 0 || out != oracle(t, "expected_greedy_t0_n200.txt")+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestGenerateIDs(t *testing.T) {
	out, errOut, code := tabshard(t, "generate", "--ids", "--steps", "64", "--temperature", "0", "--prompt", "Once upon a time")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := ""
	for _, line := range strings.Split(oracle(t, "once_upon_a_time_t0_n64.ids.txt"), "\n") {
		if ids, ok := strings.CutPrefix(line, "generated_ids: "); ok {
			want = ids
		}
	}
	if strings.TrimSpace(out) != want {
		t.Fatalf("ids %q, run.c %q", out, want)
	}
}

// writeCorrupt writes a copy of the bundled model changed by edit.
func writeCorrupt(t *testing.T, edit func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(modelFiles["v3"])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad.gguf")
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateBadInput(t *testing.T) {
	notGGUF := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notGGUF, []byte("just some text, not a model\n"), 0o644)
	truncated := writeCorrupt(t, func(b []byte) []byte { return b[:5000] })
	truncatedData := writeCorrupt(t, func(b []byte) []byte { return b[:len(b)-100] })
	hugeCount := writeCorrupt(t, func(b []byte) []byte { b[8], b[15] = 0xff, 0x7f; return b })
	unknownArch := writeCorrupt(t, func(b []byte) []byte {
		i := bytes.Index(b, []byte("general.architecture"))
		j := i + bytes.Index(b[i+20:], []byte("llama")) + 20
		copy(b[j:], "gptjx")
		return b
	})
	long := strings.Repeat("the dog ran and the cat sat on a mat ", 80)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"--model", "/no/such/model.gguf"}, 1, "no such file"},
		{"not gguf", []string{"--model", notGGUF}, 1, "not a GGUF file"},
		{"truncated header", []string{"--model", truncated}, 1, "offset"},
		{"truncated data", []string{"--model", truncatedData}, 1, "output.weight"},
		{"huge tensor count", []string{"--model", hugeCount}, 1, "offset 8"},
		{"unknown architecture", []string{"--model", unknownArch}, 1, `unknown architecture "gptjx"`},
		{"prompt past context", []string{"--prompt", long}, 1, "longer than the context length 512"},
		{"negative temperature", []string{"--temperature", "-1"}, 2, "--temperature"},
		{"top-p out of range", []string{"--top-p", "1.5"}, 2, "--top-p"},
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"stray argument", []string{"extra"}, 2, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := tabshard(t, append([]string{"generate", "--steps", "8"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q on error", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.want) {
				t.Fatalf("error line %q does not mention %q", last, c.want)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	out, errOut, code := tabshard(t, "inspect", modelFiles["v1"])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"GGUF version 1", "general.architecture", "tokenizer.ggml.tokens", "[512]string", "blk.4.ffn_down.weight", "total: 48 tensors"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}
	js, _, code := tabshard(t, "inspect", "--json", modelFiles["v3"])
	if code != 0 || !strings.Contains(js, `"count": 512`) || !strings.Contains(js, `"name": "output.weight"`) {
		t.Fatalf("inspect --json: exit %d\n%s", code, js)
	}
}

func TestUsage(t *testing.T) {
	out, _, code := tabshard(t)
	if code != 0 || !strings.Contains(out, "generate") {
		t.Fatalf("help: exit %d %q", code, out)
	}
	if _, errOut, code := tabshard(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: exit %d %q", code, errOut)
	}
	if _, errOut, code := tabshard(t, "inspect"); code != 2 {
		t.Fatalf("inspect without file: exit %d %q", code, errOut)
	}
	if out, _, code := tabshard(t, "--version"); code != 0 || !strings.HasPrefix(out, "tabshard ") {
		t.Fatalf("--version: exit %d %q", code, out)
	}
}

// Every command's -h has a synopsis, a description and an example, and no
// flag's placeholder is taken from prose in backquotes.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		_, errOut, code := tabshard(t, c.name, "-h")
		if code != 0 {
			t.Errorf("%s -h: exit %d", c.name, code)
		}
		for _, want := range []string{"Usage: tabshard " + c.name, "Example:\n  tabshard " + c.name} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s -h lacks %q:\n%s", c.name, want, errOut)
			}
		}
		if strings.Contains(errOut, "Usage of") || strings.Contains(errOut, " tabshard up\n") {
			t.Errorf("%s -h has flag-package boilerplate or a prose placeholder:\n%s", c.name, errOut)
		}
		if h := helps[c.name]; h.description == "" {
			t.Errorf("%s has no description", c.name)
		}
	}
}
