package synth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

func write(t *testing.T, s synth.Spec, seed uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, s, seed); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestTinyOpensWithItsShape(t *testing.T) {
	s := synth.Tiny
	m := open(t, write(t, s, 1))
	c := m.Config
	got := []int{c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFNDim, c.Vocab, c.ContextLength, c.HeadDim, c.RopeDim}
	want := []int{s.Dim, s.Layers, s.Heads, s.KVHeads, s.FFNDim, s.Vocab, s.Context, s.Dim / s.Heads, s.Dim / s.Heads}
	if !slices.Equal(got, want) {
		t.Errorf("config %v, want %v", got, want)
	}
	if c.Arch != model.ArchLlama || c.Name != s.Name {
		t.Errorf("arch %v name %q", c.Arch, c.Name)
	}
	if tok := m.Tokenizer; tok.Len() != s.Vocab || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Errorf("tokenizer: %d tokens, BOS %d, EOS %d", tok.Len(), tok.BOS(), tok.EOS())
	}
}

func TestTiedClassifierIsACopy(t *testing.T) {
	m := open(t, write(t, synth.Tiny, 7))
	s := synth.Tiny
	emb, err := m.Matrix("token_embd.weight", s.Vocab, s.Dim)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Matrix("output.weight", s.Vocab, s.Dim)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb.Data, out.Data) {
		t.Error("tied output.weight differs from token_embd.weight")
	}
	untied := s
	untied.Untied = true
	m = open(t, write(t, untied, 7))
	emb, _ = m.Matrix("token_embd.weight", s.Vocab, s.Dim)
	out, _ = m.Matrix("output.weight", s.Vocab, s.Dim)
	if bytes.Equal(emb.Data, out.Data) {
		t.Error("untied output.weight equals token_embd.weight")
	}
}

func TestTinyGeneratesAllSteps(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.F32, kernels.F16} {
		t.Run(typ.String(), func(t *testing.T) {
			s := synth.Tiny
			s.Type = typ
			m := open(t, write(t, s, 3))
			const steps = 24
			p, err := worker.Load(m, steps)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			g := worker.GenerateConfig{Prompt: m.Tokenizer.Encode("Once upon a time"), Steps: steps,
				Sampler: worker.NewSampler(0, 0, 1), BOS: m.Tokenizer.BOS()}
			err = worker.Generate(context.Background(), p, g, func(ev worker.Event) error {
				if !ev.Forced {
					ids = append(ids, ev.Next)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Control tokens' logits are kept near zero, so greedy decoding
			// runs every step.
			if want := steps - len(g.Prompt) + 1; len(ids) != want {
				t.Fatalf("generated %d tokens, want %d: %v", len(ids), want, ids)
			}
			for _, id := range ids {
				if id <= 2 || id >= s.Vocab {
					t.Fatalf("generated control or out-of-range token %d", id)
				}
			}
		})
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	m := open(t, write(t, synth.Tiny, 1))
	const text = "Once upon a time, Lily saw 3 cats! ünïcode"
	ids := m.Tokenizer.Encode(text)
	if ids[0] != m.Tokenizer.BOS() {
		t.Fatalf("encoding does not start with BOS: %v", ids)
	}
	if got := m.Tokenizer.Decode(ids); got != text {
		t.Errorf("Decode(Encode(%q)) = %q", text, got)
	}
	if len(ids) >= len(text) {
		t.Errorf("%d tokens for %d bytes: pieces were not merged", len(ids), len(text))
	}
}

func TestSameSeedSameBytes(t *testing.T) {
	sum := func(s synth.Spec, seed uint64) [32]byte {
		b, err := os.ReadFile(write(t, s, seed))
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	a, b := sum(synth.Tiny, 42), sum(synth.Tiny, 42)
	if a != b {
		t.Error("the same spec and seed wrote different files")
	}
	if c := sum(synth.Tiny, 43); c == a {
		t.Error("seeds 42 and 43 wrote the same file")
	}
}

func TestVocabulary(t *testing.T) {
	tokens, scores, types := synth.Vocabulary(synth.Stories110M.Vocab)
	if len(tokens) != 32000 || len(scores) != 32000 || len(types) != 32000 {
		t.Fatalf("lengths %d %d %d", len(tokens), len(scores), len(types))
	}
	seen := map[string]bool{}
	for i, tok := range tokens {
		if seen[tok] {
			t.Fatalf("token %d %q is a duplicate", i, tok)
		}
		seen[tok] = true
	}
	if tokens[1] != "<s>" || tokens[3] != "<0x00>" || tokens[258] != "<0xFF>" || types[258] != 6 || types[259] != 1 {
		t.Errorf("head of vocabulary: %q %q %q types %d %d", tokens[1], tokens[3], tokens[258], types[258], types[259])
	}
}

func TestBadSpec(t *testing.T) {
	cases := map[string]func(*synth.Spec){
		"zero dim":        func(s *synth.Spec) { s.Dim = 0 },
		"heads":           func(s *synth.Spec) { s.Heads = 5 },
		"kv heads":        func(s *synth.Spec) { s.KVHeads = 3 },
		"odd head size":   func(s *synth.Spec) { s.Dim, s.Heads, s.KVHeads = 12, 4, 4 },
		"small vocab":     func(s *synth.Spec) { s.Vocab = 259 },
		"quantized":       func(s *synth.Spec) { s.Type = kernels.Q4_0 },
		"negative layers": func(s *synth.Spec) { s.Layers = -1 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			s := synth.Tiny
			edit(&s)
			path := filepath.Join(t.TempDir(), "m.gguf")
			err := synth.Write(path, s, 1)
			if !errors.Is(err, synth.ErrBadSpec) {
				t.Fatalf("Write = %v, want ErrBadSpec", err)
			}
			if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
				t.Errorf("a file was left at %s", path)
			}
		})
	}
}

func TestParams(t *testing.T) {
	if n := synth.Stories110M.Params(); n < 100e6 || n > 120e6 {
		t.Errorf("Stories110M has %d parameters", n)
	}
}
