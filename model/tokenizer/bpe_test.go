package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// bpeSubset is a testdata/*-subset.json fixture: the part of a real
// byte-level BPE vocabulary that its cases reach, at the original ids, and
// the ids published for those cases (see testdata/README.md).
type bpeSubset struct {
	Pre     string         `json:"pre"`
	NTokens int            `json:"n_tokens"`
	Tokens  map[int]string `json:"tokens"`
	Types   map[int]int32  `json:"types"` // the tokens that are not normal
	Merges  []string       `json:"merges"`
	Cases   []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"cases"`
}

// vocabulary fills the ids the subset leaves out with unused tokens. Their
// text holds a raw space, which no byte-level word ever contains.
func (s bpeSubset) vocabulary(pre string) Vocab {
	tokens := make([]string, s.NTokens)
	types := make([]int32, s.NTokens)
	for id := range tokens {
		tok, ok := s.Tokens[id]
		if !ok {
			tok, types[id] = fmt.Sprintf("unused %d", id), TypeUnused
		}
		tokens[id] = tok
		if ty, ok := s.Types[id]; ok {
			types[id] = ty
		}
	}
	return Vocab{Model: "gpt2", Pre: pre, Tokens: tokens, Types: types, Merges: s.Merges, BOS: -1, EOS: -1}
}

func loadSubset(t testing.TB, name string) bpeSubset {
	t.Helper()
	var s bpeSubset
	readJSON(t, name+"-subset.json", &s)
	return s
}

func newOrFatal(t testing.TB, v Vocab) *Tokenizer {
	t.Helper()
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The subsets' expected ids are Hugging Face's (see testdata/README.md):
// GPT-2 and Qwen2 and the pre-tokenizers of DeepSeek Coder and LLM,
// Falcon, MPT (GPT-NeoX's vocabulary, which lacks bytes UTF-8 never
// uses), StarCoder and Refact.
func TestBPEPublishedTokenizations(t *testing.T) {
	for _, name := range []string{"gpt2", "qwen2", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "starcoder", "refact"} {
		s := loadSubset(t, name)
		tok := newOrFatal(t, s.vocabulary(s.Pre))
		for _, c := range s.Cases {
			if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
				t.Errorf("%s: Encode(%q) = %v, want %v", name, c.Text, got, c.IDs)
			}
			if got := tok.Decode(c.IDs); got != c.Text {
				t.Errorf("%s: Decode(%v) = %q, want %q", name, c.IDs, got, c.Text)
			}
		}
	}
}

func TestByteLevelAlphabet(t *testing.T) {
	seen := map[rune]bool{}
	for b := range 256 {
		r := byteRune[b]
		if seen[r] || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			t.Errorf("byte 0x%02X -> %U: repeated, unprintable or space", b, r)
		}
		seen[r] = true
		if got := unByteLevel(byteLevel(string([]byte{byte(b)}))); len(got) != 1 || got[0] != byte(b) {
			t.Errorf("byte 0x%02X does not round-trip: %q", b, got)
		}
	}
	anchors := map[byte]rune{'!': '!', '~': '~', 0xA1: 0xA1, 0xAC: 0xAC, 0xAE: 0xAE, 0xFF: 0xFF,
		0x00: 0x100, ' ': 'Ġ', '\n': 'Ċ', '\t': 'ĉ', 0x7F: 0x121, 0xA0: 0x142, 0xAD: 0x143}
	for b, want := range anchors {
		if byteRune[b] != want {
			t.Errorf("byte 0x%02X -> %U, want %U", b, byteRune[b], want)
		}
	}
}

// byteVocab is a byte-level vocabulary: the 256 byte characters in byte
// order (so the token of byte b is b), then extra tokens.
func byteVocab(pre string, extra []string, merges ...string) Vocab {
	tokens := make([]string, 0, 256+len(extra))
	for b := range 256 {
		tokens = append(tokens, string(byteRune[b]))
	}
	tokens = append(tokens, extra...)
	return Vocab{Model: "gpt2", Pre: pre, Tokens: tokens, Merges: merges, BOS: -1, EOS: -1}
}

func TestBPEMergePriorityIsRank(t *testing.T) {
	extra := []string{"bc", "ab", "abc"} // ids 256, 257, 258
	cases := []struct {
		merges []string
		want   []int
	}{
		{[]string{"b c", "a b", "a bc"}, []int{258}},      // "b c" first, then "a bc"
		{[]string{"a b", "b c", "a bc"}, []int{257, 'c'}}, // "a b" first; "ab c" is no merge
	}
	for _, c := range cases {
		tok := newOrFatal(t, byteVocab("gpt-2", extra, c.merges...))
		if got := tok.Encode("abc"); !slices.Equal(got, c.want) {
			t.Errorf("merges %q: Encode(abc) = %v, want %v", c.merges, got, c.want)
		}
	}
}

func TestBPEEqualRanksMergeLeftmostFirst(t *testing.T) {
	tok := newOrFatal(t, byteVocab("gpt-2", []string{"aa"}, "a a"))
	if got := tok.Encode("aaa"); !slices.Equal(got, []int{256, 'a'}) {
		t.Fatalf("Encode(aaa) = %v, want [256 97]", got)
	}
}

// TestBPEIgnoreMerges: Llama-3 takes a word that is itself a token whole,
// even when no chain of merges builds it.
func TestBPEIgnoreMerges(t *testing.T) {
	extra := []string{"xy", "xyz"} // only "x y" is a merge
	for pre, want := range map[string][]int{"llama-bpe": {257}, "qwen2": {256, 'z'}} {
		tok := newOrFatal(t, byteVocab(pre, extra, "x y"))
		if got := tok.Encode("xyz"); !slices.Equal(got, want) {
			t.Errorf("%s: Encode(xyz) = %v, want %v", pre, got, want)
		}
	}
}

func TestBPESpecialTokensAreText(t *testing.T) {
	v := byteVocab("llama-bpe", []string{"<|begin_of_text|>"}, "< |")
	v.Tokens = append(v.Tokens, "<|")
	v.BOS, v.AddBOS = 256, true
	v.Types = make([]int32, len(v.Tokens))
	v.Types[256] = TypeControl
	tok := newOrFatal(t, v)
	ids := tok.Encode("<|begin_of_text|>")
	if ids[0] != 256 || slices.Contains(ids[1:], 256) {
		t.Fatalf("Encode = %v: want BOS once, at the start only", ids)
	}
	if got := tok.Decode(ids); got != "<|begin_of_text|>" {
		t.Fatalf("Decode = %q: BOS must decode to nothing and the text to itself", got)
	}
}

func TestBPEPieces(t *testing.T) {
	v := byteVocab("gpt-2", []string{"ĠHello", "<|eot|>", "<tag>", "ĠĠ"}, "Ġ Ġ")
	v.Types = make([]int32, len(v.Tokens))
	v.Types[257], v.Types[258] = TypeControl, TypeUserDefined
	tok := newOrFatal(t, v)
	for id, want := range map[int]string{256: " Hello", 257: "", 258: "<tag>", 259: "  ", 0xE6: "\xe6", '\n': "\n"} {
		if got := string(tok.Piece(-1, id)); got != want {
			t.Errorf("Piece(%d) = %q, want %q", id, got, want)
		}
	}
}

// bpeFuzzTokenizers are the GPT-2 subset under each pre-tokenizer: any
// byte-level vocabulary with all 256 byte characters encodes any text.
func bpeFuzzTokenizers(t testing.TB) []*Tokenizer {
	s := loadSubset(t, "gpt2")
	var toks []*Tokenizer
	for _, pre := range []string{"gpt-2", "llama-bpe", "qwen2"} {
		toks = append(toks, newOrFatal(t, s.vocabulary(pre)))
	}
	return toks
}

func FuzzBPERoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello world!!  \n\n  x", "I'm can't WE'LL", "12345 abc", "  leading",
		"tab\tand\r\nnewline", "naïve ½ ٣٤٥", "emoji 👍🏽!", "\xff\xfe", "x\u3000\u3000y"} {
		f.Add(s)
	}
	toks := bpeFuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			ids := tok.Encode(s)
			var raw []byte
			for _, id := range ids {
				raw = append(raw, tok.Piece(-1, id)...)
			}
			if string(raw) != s {
				t.Fatalf("pieces of Encode(%q) = %q", s, raw)
			}
			if utf8.ValidString(s) && tok.Decode(ids) != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, tok.Decode(ids))
			}
			if got := strings.Join(tok.bpe.split(s), ""); got != s {
				t.Fatalf("words of %q join to %q", s, got)
			}
		}
	})
}
