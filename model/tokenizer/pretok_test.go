package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// preTokenizerCases are the words each expression cuts, as JavaScript's
// regexp engine (which has lookahead) cuts them with the same expressions.
var preTokenizerCases = map[string][]struct {
	in    string
	words []string
}{
	"gpt-2": {
		{"Hello world!!  \n\n  x", []string{"Hello", " world", "!!", "  \n\n ", " x"}},
		{"I'm can't WE'LL", []string{"I", "'m", " can", "'t", " WE", "'", "LL"}},
		{"12345 abc", []string{"12345", " abc"}},
		{"  leading", []string{" ", " leading"}},
		{"tab\tand\r\nnewline", []string{"tab", "\t", "and", "\r", "\n", "newline"}},
		{"naïve Ωmega ½ ⅷ ٣٤٥ x²", []string{"naïve", " Ωmega", " ½", " ⅷ", " ٣٤٥", " x", "²"}},
		{"emoji 🙂🙂 👍🏽!", []string{"emoji", " 🙂🙂", " 👍🏽!"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"x\u3000\u3000y", []string{"x", "\u3000", "\u3000", "y"}},
		{" 'twas", []string{" '", "twas"}},
		{"a\n \n b", []string{"a", "\n \n", " b"}},
		{"$ (x) ...\n\n", []string{"$", " (", "x", ")", " ...", "\n\n"}},
	},
	"llama-bpe": {
		{"Hello world!!  \n\n  x", []string{"Hello", " world", "!!", "  \n\n", " ", " x"}},
		{"I'm can't WE'LL", []string{"I", "'m", " can", "'t", " WE", "'LL"}},
		{"12345 abc", []string{"123", "45", " abc"}},
		{"  leading", []string{" ", " leading"}},
		{"tab\tand\r\nnewline", []string{"tab", "\tand", "\r\n", "newline"}},
		{"naïve Ωmega ½ ⅷ ٣٤٥ x²", []string{"naïve", " Ωmega", " ", "½", " ", "ⅷ", " ", "٣٤٥", " x", "²"}},
		{"emoji 🙂🙂 👍🏽!", []string{"emoji", " 🙂🙂", " 👍🏽!"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"x\u3000\u3000y", []string{"x", "\u3000", "\u3000y"}},
		{" 'twas", []string{" '", "twas"}},
		{"a\n \n b", []string{"a", "\n \n", " b"}},
		{"$ (x) ...\n\n", []string{"$", " (", "x", ")", " ...\n\n"}},
	},
	"qwen2": {
		{"Hello world!!  \n\n  x", []string{"Hello", " world", "!!", "  \n\n", " ", " x"}},
		{"I'm can't WE'LL", []string{"I", "'m", " can", "'t", " WE", "'LL"}},
		{"12345 abc", []string{"1", "2", "3", "4", "5", " abc"}},
		{"  leading", []string{" ", " leading"}},
		{"tab\tand\r\nnewline", []string{"tab", "\tand", "\r\n", "newline"}},
		{"naïve Ωmega ½ ⅷ ٣٤٥ x²", []string{"naïve", " Ωmega", " ", "½", " ", "ⅷ", " ", "٣", "٤", "٥", " x", "²"}},
		{"emoji 🙂🙂 👍🏽!", []string{"emoji", " 🙂🙂", " 👍🏽!"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"x\u3000\u3000y", []string{"x", "\u3000", "\u3000y"}},
		{" 'twas", []string{" '", "twas"}},
		{"a\n \n b", []string{"a", "\n \n", " b"}},
		{"$ (x) ...\n\n", []string{"$", " (", "x", ")", " ...\n\n"}},
	},
}

func TestPreTokenizerSplits(t *testing.T) {
	for name, cases := range preTokenizerCases {
		p, err := preTokenizerFor(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if got := p.split(c.in); !slices.Equal(got, c.words) {
				t.Errorf("%s: split(%q) = %q, want %q", name, c.in, got, c.words)
			}
		}
	}
}

func TestPreTokenizerAliases(t *testing.T) {
	for _, name := range []string{"", "default", "gpt2", "phi-2", "llama3", "llama-v3", "deepseek-r1-qwen", "mpt", "starcoder", "refact", "falcon", "deepseek-coder", "deepseek-llm"} {
		if _, err := preTokenizerFor(name); err != nil {
			t.Errorf("preTokenizerFor(%q): %v", name, err)
		}
	}
	if _, err := preTokenizerFor("jais-unknown"); err == nil || !strings.Contains(err.Error(), `"jais-unknown"`) {
		t.Errorf("preTokenizerFor(jais-unknown) = %v, want an error naming it", err)
	}
}

// TestPreTokenizerInvalidUTF8 checks that bytes that are not UTF-8 stay in
// the words, each a symbol character, so that byte-level BPE keeps them.
func TestPreTokenizerInvalidUTF8(t *testing.T) {
	for name := range preTokenizerCases {
		p, _ := preTokenizerFor(name)
		in := "a\xffb \xfe\xfd\n\xe6\x97"
		if got := strings.Join(p.split(in), ""); got != in {
			t.Errorf("%s: words join to %q, want %q", name, got, in)
		}
	}
}
