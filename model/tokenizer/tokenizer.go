package tokenizer

import "strings"

// Tokenizer encodes text to token ids and decodes them back. It is immutable
// after New and safe for concurrent use.
type Tokenizer struct {
	kind   Kind
	tokens []string       // the vocabulary as GGUF stores it
	text   []string       // SPM: tokens with "▁" read as " "; BPE: tokens
	types  []int32        // one per token; TypeUndefined counts as normal
	ids    map[string]int // text -> lowest id with that text
	bos    int
	eos    int
	addBOS bool

	spm      spmData
	bpe      bpeData
	specials specials
}

// New builds a tokenizer from v, checking that v is complete and consistent:
// its sizes agree, BOS and EOS name tokens, an SPM vocabulary has all 256
// byte tokens and a BPE vocabulary all 256 byte characters and well-formed
// merges. Errors wrap ErrInvalidVocab or ErrUnsupported.
func New(v Vocab) (*Tokenizer, error) {
	kind, err := kindOf(v.Model)
	if err != nil {
		return nil, err
	}
	if err := v.validate(kind); err != nil {
		return nil, err
	}
	t := newBase(v, kind)
	if kind == KindSPM {
		err = t.initSPM(v)
	} else {
		err = t.initBPE(v)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func newBase(v Vocab, kind Kind) *Tokenizer {
	t := &Tokenizer{
		kind:   kind,
		tokens: v.Tokens,
		text:   v.Tokens,
		types:  tokenTypes(v),
		bos:    v.BOS,
		eos:    v.EOS,
		addBOS: v.AddBOS,
	}
	if kind == KindSPM {
		t.text = spaced(v.Tokens)
	}
	t.specials = newSpecials(t.text, t.types)
	t.ids = make(map[string]int, len(t.text))
	for id, s := range t.text {
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = id
		}
	}
	return t
}

// tokenTypes returns v.Types, or when absent, all normal but BOS and EOS.
func tokenTypes(v Vocab) []int32 {
	if v.Types != nil {
		return v.Types
	}
	types := make([]int32, len(v.Tokens))
	for i := range types {
		types[i] = TypeNormal
	}
	for _, id := range []int{v.BOS, v.EOS} {
		if id >= 0 {
			types[id] = TypeControl
		}
	}
	return types
}

// spaced reads SentencePiece's "▁" (U+2581) as a space, as llama2.c's
// tokenizer export does.
func spaced(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, s := range tokens {
		out[i] = strings.ReplaceAll(s, "\u2581", " ")
	}
	return out
}

// Encode returns the token ids of text, starting with BOS when the
// vocabulary asks for it. User-defined tokens (type USER_DEFINED: Qwen's
// <think>, Phi-3's <|end|>) written in text are matched as those tokens,
// as llama.cpp always does; control tokens (BOS, <|im_start|>) are encoded
// as the plain characters they are made of: text from a user cannot
// forge them.
func (t *Tokenizer) Encode(text string) []int { return t.encode(text, false) }

// EncodeSpecial is Encode that also matches control tokens written in
// text (llama.cpp's parse_special): for prompts a chat template rendered,
// which spell out <|im_start|> and the like.
func (t *Tokenizer) EncodeSpecial(text string) []int { return t.encode(text, true) }

func (t *Tokenizer) encode(text string, control bool) []int {
	ids := make([]int, 0, len(text)/2+2)
	if t.addBOS {
		ids = append(ids, t.bos)
	}
	t.specials.partition(text, control, func(raw string) {
		if t.kind == KindSPM {
			ids = t.encodeSPM(ids, raw)
		} else {
			ids = t.encodeBPE(ids, raw)
		}
	}, func(id int) {
		// A template that writes BOS itself gets it once.
		if !(control && id == t.bos && len(ids) == 1 && t.addBOS) {
			ids = append(ids, id)
		}
	})
	return ids
}

// Len returns the number of tokens in the vocabulary.
func (t *Tokenizer) Len() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence token id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence token id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// Kind returns the tokenizer's algorithm.
func (t *Tokenizer) Kind() Kind { return t.kind }

// AddBOS reports whether Encode starts with BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// Token returns the vocabulary string of id as GGUF stores it, or "" when id
// is out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of the token whose vocabulary string is s (GGUF's form,
// "▁" and all), and whether there is one.
func (t *Tokenizer) ID(s string) (int, bool) {
	if t.kind == KindSPM {
		s = strings.ReplaceAll(s, "\u2581", " ")
	}
	id, ok := t.ids[s]
	return id, ok
}

// isHidden reports whether id decodes to nothing: control and unused tokens.
func (t *Tokenizer) isHidden(id int) bool {
	ty := t.types[id]
	return ty == TypeControl || ty == TypeUnused
}
