package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNewRejectsBadVocabularies(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(v *Vocab)
		target error
		msg    string
	}{
		{"unknown model", func(v *Vocab) { v.Model = "bert" }, ErrUnsupported, `"bert"`},
		{"empty model", func(v *Vocab) { v.Model = "" }, ErrUnsupported, "tokenizer model"},
		{"no tokens", func(v *Vocab) { v.Tokens, v.Scores, v.Types = nil, nil, nil }, ErrInvalidVocab, "no tokens"},
		{"scores short", func(v *Vocab) { v.Scores = v.Scores[:10] }, ErrInvalidVocab, "10 scores for 512 tokens"},
		{"scores missing", func(v *Vocab) { v.Scores = nil }, ErrInvalidVocab, "0 scores"},
		{"types long", func(v *Vocab) { v.Types = append(v.Types, 1) }, ErrInvalidVocab, "513 token types"},
		{"BOS out of range", func(v *Vocab) { v.BOS = 512 }, ErrInvalidVocab, "BOS id 512"},
		{"EOS negative", func(v *Vocab) { v.EOS = -7 }, ErrInvalidVocab, "EOS id -7"},
		{"add BOS without BOS", func(v *Vocab) { v.BOS = -1 }, ErrInvalidVocab, "no BOS"},
		{"byte token missing", func(v *Vocab) { v.Tokens[3+0x41] = "A?" }, ErrInvalidVocab, `"<0x41>"`},
	}
	for _, c := range cases {
		v := storiesVocabulary(t)
		c.edit(&v)
		_, err := New(v)
		if !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: New error %v, want %v mentioning %s", c.name, err, c.target, c.msg)
		}
	}
}

func TestNewRejectsBadBPE(t *testing.T) {
	cases := []struct {
		name   string
		v      Vocab
		target error
		msg    string
	}{
		{"no merges", byteVocab("gpt-2", nil), ErrInvalidVocab, "no merges"},
		{"merge without space", byteVocab("gpt-2", []string{"ab"}, "ab"), ErrInvalidVocab, `merge 0 "ab"`},
		{"merge with empty right", byteVocab("gpt-2", []string{"ab"}, "a "), ErrInvalidVocab, "two tokens"},
		{"merge of unknown token", byteVocab("gpt-2", []string{"ab"}, "a b", "q zz"), ErrInvalidVocab, `merge 1 "q zz": "zz" is not a token`},
		{"merge result not a token", byteVocab("gpt-2", nil, "a b"), ErrInvalidVocab, `"ab" is not a token`},
		{"unknown pre-tokenizer", byteVocab("jais-unknown", []string{"ab"}, "a b"), ErrUnsupported, `"jais-unknown"`},
		{"no byte characters", func() Vocab {
			v := byteVocab("gpt-2", []string{"ab"}, "a b")
			for i := range 256 {
				v.Tokens[i] = fmt.Sprintf("x%d x", i)
			}
			return v
		}(), ErrInvalidVocab, "no token for any byte"},
	}
	for _, c := range cases {
		_, err := New(c.v)
		if !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: New error %v, want %v mentioning %s", c.name, err, c.target, c.msg)
		}
	}
}

func TestNewAccessors(t *testing.T) {
	tok := stories(t)
	if tok.Len() != 512 || tok.BOS() != 1 || tok.EOS() != 2 || tok.Kind() != KindSPM || !tok.AddBOS() {
		t.Fatalf("Len %d BOS %d EOS %d Kind %v AddBOS %v", tok.Len(), tok.BOS(), tok.EOS(), tok.Kind(), tok.AddBOS())
	}
	if id, ok := tok.ID("▁Once"); !ok || id != 403 || tok.Token(403) != "▁Once" {
		t.Fatalf("ID(▁Once) = %d %v, Token(403) = %q", id, ok, tok.Token(403))
	}
	if KindBPE.String() != "gpt2" || KindUnknown.String() != "unknown" {
		t.Fatal("Kind.String")
	}
}

// storiesMetadata presents the stories260K vocabulary as the GGUF reader
// does: the keys and value types of the real file.
func storiesMetadata(t *testing.T) mapMetadata {
	v := storiesVocabulary(t)
	return mapMetadata{
		KeyModel: "llama", KeyTokens: v.Tokens, KeyScores: v.Scores, KeyTokenType: v.Types,
		KeyBOS: uint64(1), KeyEOS: uint64(2), "tokenizer.ggml.padding_token_id": uint64(0),
	}
}

func TestFromGGUFStories(t *testing.T) {
	tok, err := FromGGUF(storiesMetadata(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("Once upon a time"); !slices.Equal(got, []int{1, 403, 407, 261, 378}) {
		t.Fatalf("Encode = %v", got)
	}
}

func TestFromGGUFAddBOS(t *testing.T) {
	md := storiesMetadata(t)
	md[KeyAddBOS] = false
	if tok, err := FromGGUF(md); err != nil || tok.AddBOS() {
		t.Fatalf("add_bos_token false: AddBOS %v, err %v", tok != nil && tok.AddBOS(), err)
	}
	for pre, want := range map[string]bool{"llama-bpe": true, "qwen2": false, "gpt-2": false} {
		v := byteVocab(pre, []string{"ab", "<bos>"}, "a b")
		md := mapMetadata{KeyModel: "gpt2", KeyPre: pre, KeyTokens: v.Tokens, KeyMerges: v.Merges, KeyBOS: uint64(257)}
		tok, err := FromGGUF(md)
		if err != nil || tok.AddBOS() != want {
			t.Errorf("pre %s: AddBOS %v, want %v (err %v)", pre, tok != nil && tok.AddBOS(), want, err)
		}
	}
}

func TestFromGGUFMissingKeys(t *testing.T) {
	for _, key := range []string{KeyModel, KeyTokens, KeyScores} {
		md := storiesMetadata(t)
		delete(md, key)
		_, err := FromGGUF(md)
		if !errors.Is(err, ErrInvalidVocab) || !strings.Contains(err.Error(), key) {
			t.Errorf("without %s: error %v, want one naming the key", key, err)
		}
	}
	v := byteVocab("gpt-2", nil)
	_, err := FromGGUF(mapMetadata{KeyModel: "gpt2", KeyTokens: v.Tokens})
	if !errors.Is(err, ErrInvalidVocab) || !strings.Contains(err.Error(), KeyMerges) {
		t.Errorf("gpt2 without merges: error %v, want one naming %s", err, KeyMerges)
	}
}

func TestFromGGUFOptionalKeysAbsent(t *testing.T) {
	md := storiesMetadata(t)
	delete(md, KeyTokenType)
	delete(md, KeyEOS)
	tok, err := FromGGUF(md)
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOS() != -1 || string(tok.Piece(0, 1)) != "" {
		t.Fatalf("EOS %d, BOS piece %q: want no EOS and BOS still hidden", tok.EOS(), tok.Piece(0, 1))
	}
}

// A vocabulary that lacks some bytes' characters loads, as llama.cpp
// loads GPT-NeoX's (no token for 0xC0); Encode drops those bytes.
func TestMissingByteTokensLoad(t *testing.T) {
	v := byteVocab("gpt-2", []string{"ab"}, "a b")
	v.Tokens['\n'] = "unused newline"
	tok := newOrFatal(t, v)
	got := tok.Encode("a\nb")
	want := append(tok.Encode("a"), tok.Encode("b")...)
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(a\\nb) = %v, want %v: the byte without a token dropped", got, want)
	}
}
