package tokenizer

import (
	"slices"
	"testing"
)

// qwen3Added is testdata/qwen3-added-subset.json: a bpeSubset with the
// vocabulary's added tokens, whose "special" flag llama.cpp's converter
// turns into the CONTROL type and its absence into USER_DEFINED.
type qwen3Added struct {
	bpeSubset
	Added []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added"`
}

func qwen3Tokenizer(t *testing.T) (*Tokenizer, qwen3Added) {
	t.Helper()
	var s qwen3Added
	readJSON(t, "qwen3-added-subset.json", &s)
	v := s.vocabulary(s.Pre)
	for _, a := range s.Added {
		v.Tokens[a.ID], v.Types[a.ID] = a.Content, TypeUserDefined
		if a.Special {
			v.Types[a.ID] = TypeControl
		}
	}
	return newOrFatal(t, v), s
}

// Every added token written in the text is that token, as transformers.js
// (and llama.cpp with parse_special) encode it.
func TestEncodeSpecialMatchesPublishedTokenizer(t *testing.T) {
	tok, s := qwen3Tokenizer(t)
	for _, c := range s.Cases {
		if got := tok.EncodeSpecial(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("EncodeSpecial(%q) = %v\nwant %v", c.Text, got, c.IDs)
		}
		if got := tok.Decode(c.IDs); got != decodeVisible(tok, c.Text) {
			t.Errorf("Decode(%v) = %q", c.IDs, got)
		}
	}
}

// decodeVisible is text without its control tokens, which decode to
// nothing.
func decodeVisible(tok *Tokenizer, text string) string {
	var out []byte
	tok.specials.partition(text, true, func(raw string) { out = append(out, raw...) }, func(id int) {
		if !tok.isHidden(id) {
			out = append(out, tok.Token(id)...)
		}
	})
	return string(out)
}

// Without parse_special, user-defined tokens are still matched (the
// issue's "<think>…</think> <tool_call>": 5 tokens, not 12) but control
// tokens are text.
func TestEncodeMatchesUserDefinedOnly(t *testing.T) {
	tok, _ := qwen3Tokenizer(t)
	if got, want := tok.Encode("<think>hi</think> <tool_call>"), []int{151667, 6023, 151668, 220, 151657}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	ids := tok.Encode("<|im_start|>user")
	if slices.Contains(ids, 151644) || len(ids) < 3 {
		t.Errorf("Encode(<|im_start|>user) = %v: a control token came from plain text", ids)
	}
	if got := tok.Decode(ids); got != "<|im_start|>user" {
		t.Errorf("Decode = %q", got)
	}
}

// A template that writes BOS gets one BOS, not two.
func TestEncodeSpecialBOSOnce(t *testing.T) {
	tok := stories(t)
	ids := tok.EncodeSpecial("<s>Once upon a time")
	if !slices.Equal(ids, tok.Encode("Once upon a time")) {
		t.Errorf("EncodeSpecial(<s>Once upon a time) = %v, want %v", ids, tok.Encode("Once upon a time"))
	}
	if n := tok.EncodeSpecial("a<s>b"); !slices.Contains(n, tok.BOS()) || n[0] != tok.BOS() {
		t.Errorf("EncodeSpecial(a<s>b) = %v: want BOS first and where the text has it", n)
	}
}

// In a SentencePiece vocabulary, a user-defined token (Phi-3's GGUF types
// its "</s>" so) is matched in plain text, and the text after it starts a
// new run with SentencePiece's " " prefix, as llama.cpp encodes it.
func TestSPMUserDefined(t *testing.T) {
	v := storiesVocabulary(t)
	v.Types = slices.Clone(v.Types)
	v.Types[2] = TypeUserDefined // "</s>"
	tok := newOrFatal(t, v)
	got := tok.Encode("Once upon</s>a time")
	want := slices.Concat(tok.Encode("Once upon"), []int{2}, tok.Encode("a time")[1:])
	if !slices.Equal(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	if plain := stories(t).Encode("Once upon</s>a time"); slices.Contains(plain, 2) {
		t.Fatalf("a control </s> came from plain text: %v", plain)
	}
}
