package tokenizer

import (
	"fmt"
	"math"
)

// Kind is the tokenizer algorithm a vocabulary uses.
type Kind int

// The kinds of tokenizer; the zero value is KindUnknown.
const (
	KindUnknown Kind = iota
	KindSPM          // SentencePiece-style score merges with byte fallback
	KindBPE          // GPT-2 byte-level BPE with ranked merges
)

// String returns the kind's tokenizer.ggml.model name.
func (k Kind) String() string {
	switch k {
	case KindSPM:
		return "llama"
	case KindBPE:
		return "gpt2"
	}
	return "unknown"
}

// Token types as GGUF stores them in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Vocab is the tokenizer metadata of a GGUF file, one field per
// tokenizer.ggml.* key.
type Vocab struct {
	Model  string    // tokenizer.ggml.model: "llama" or "gpt2"
	Pre    string    // tokenizer.ggml.pre (may be empty)
	Tokens []string  // tokenizer.ggml.tokens
	Scores []float32 // tokenizer.ggml.scores (required for SPM)
	Types  []int32   // tokenizer.ggml.token_type; nil means all normal but BOS/EOS
	Merges []string  // tokenizer.ggml.merges (required for BPE), "left right", best first
	BOS    int       // tokenizer.ggml.bos_token_id, -1 when absent
	EOS    int       // tokenizer.ggml.eos_token_id, -1 when absent
	AddBOS bool      // Encode starts with BOS
}

func kindOf(model string) (Kind, error) {
	switch model {
	case "llama":
		return KindSPM, nil
	case "gpt2":
		return KindBPE, nil
	}
	return KindUnknown, fmt.Errorf("%w: tokenizer model %q (want \"llama\" or \"gpt2\")", ErrUnsupported, model)
}

// validate checks what both kinds need: sizes that agree and special ids
// that name tokens.
func (v *Vocab) validate(kind Kind) error {
	n := len(v.Tokens)
	if n == 0 {
		return fmt.Errorf("%w: no tokens", ErrInvalidVocab)
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("%w: %d tokens is too many", ErrInvalidVocab, n)
	}
	if err := checkLen("scores", len(v.Scores), n, kind == KindSPM); err != nil {
		return err
	}
	if err := checkLen("token types", len(v.Types), n, false); err != nil {
		return err
	}
	if err := checkID("BOS", v.BOS, n); err != nil {
		return err
	}
	if err := checkID("EOS", v.EOS, n); err != nil {
		return err
	}
	if v.AddBOS && v.BOS < 0 {
		return fmt.Errorf("%w: BOS must be added but the vocabulary has no BOS token", ErrInvalidVocab)
	}
	return nil
}

func checkLen(what string, got, want int, required bool) error {
	if got == 0 && !required {
		return nil
	}
	if got != want {
		return fmt.Errorf("%w: %d %s for %d tokens", ErrInvalidVocab, got, what, want)
	}
	return nil
}

func checkID(what string, id, n int) error {
	if id == -1 || (id >= 0 && id < n) {
		return nil
	}
	return fmt.Errorf("%w: %s id %d is outside the vocabulary (0..%d, or -1 for none)", ErrInvalidVocab, what, id, n-1)
}
