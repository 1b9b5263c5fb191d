package quantize_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/quantize"
)

const bundled = "../bundled/stories260K.gguf"

func TestRewriteReadsBackAndRuns(t *testing.T) {
	for _, name := range []string{"f16", "q8_0", "mixed"} {
		t.Run(name, func(t *testing.T) {
			p, _ := quantize.Parse(name)
			out := filepath.Join(t.TempDir(), name+".gguf")
			var notes []string
			sum, err := quantize.Rewrite(context.Background(), bundled, out, quantize.Options{Policy: p, Note: func(s string) { notes = append(notes, s) }})
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if ft, _ := m.File.Uint("general.file_type"); uint32(ft) != p.FileType {
				t.Errorf("general.file_type %d, want %d", ft, p.FileType)
			}
			if qv, _ := m.File.Uint("general.quantization_version"); qv != 2 {
				t.Errorf("general.quantization_version %d", qv)
			}
			for _, ti := range m.File.Tensors {
				if want := p.TypeFor(ti.Name, ti.Dims).Type; ti.Type != want {
					t.Errorf("%s is %s, want %s", ti.Name, ti.Type, want)
				}
			}
			if sum.Tensors != len(m.File.Tensors) {
				t.Errorf("summary says %d tensors, file has %d", sum.Tensors, len(m.File.Tensors))
			}
			if name != "f16" && !containsAll(notes, "ffn_down") {
				t.Errorf("no fallback note for the 172-wide feed-forward rows: %q", notes)
			}
			if toks := m.Tokenizer.Encode("Once upon a time"); len(toks) != 5 {
				t.Fatalf("tokenizer not copied: %v", toks)
			}
		})
	}
}

func containsAll(notes []string, s string) bool {
	for _, n := range notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func TestRewriteRejectsBadInput(t *testing.T) {
	p, _ := quantize.Parse("q8_0")
	dir := t.TempDir()
	if _, err := quantize.Rewrite(context.Background(), filepath.Join(dir, "missing.gguf"), filepath.Join(dir, "out.gguf"), quantize.Options{Policy: p}); err == nil {
		t.Error("missing input accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := quantize.Rewrite(ctx, bundled, filepath.Join(dir, "out.gguf"), quantize.Options{Policy: p}); err == nil {
		t.Error("cancelled rewrite succeeded")
	}
}

// A file of the "mistral" architecture (older tabshard synth files) is
// rewritten with the names llama.cpp loads: "llama" and llama.* keys.
func TestRewriteNamesMistralLlama(t *testing.T) {
	data, err := os.ReadFile(bundled)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		if kv.Key == "general.architecture" {
			kv.Value = gguf.String("mistral")
		}
		kv.Key = strings.Replace(kv.Key, "llama.", "mistral.", 1)
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		b, err := f.ReadTensor(bytes.NewReader(data), ti)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensorBytes(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(t.TempDir(), "mistral.gguf")
	if err := w.WriteFile(in); err != nil {
		t.Fatal(err)
	}
	if m, err := model.Open(in); err != nil || m.Config.Arch != model.ArchMistral {
		t.Fatalf("the mistral file does not read as mistral: %v", err)
	}
	p, _ := quantize.Parse("q8_0")
	out := filepath.Join(t.TempDir(), "out.gguf")
	if _, err := quantize.Rewrite(context.Background(), in, out, quantize.Options{Policy: p}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if arch, _ := m.File.String("general.architecture"); arch != "llama" || m.Config.Layers != 5 {
		t.Fatalf("rewritten architecture %q, %d layers", arch, m.Config.Layers)
	}
	for _, kv := range m.File.KV {
		if strings.HasPrefix(kv.Key, "mistral.") {
			t.Errorf("key %s kept", kv.Key)
		}
	}
}
