package tokenizer

import (
	"fmt"
	"math"
)

// Metadata is the part of a GGUF file's key-value metadata the tokenizer
// reads; the model/gguf reader satisfies it. Each method returns an error
// when the key is missing or holds another type.
type Metadata interface {
	String(key string) (string, error)
	Uint(key string) (uint64, error)
	Bool(key string) (bool, error)
	Strings(key string) ([]string, error)
	Float32s(key string) ([]float32, error)
	Int32s(key string) ([]int32, error)
}

// GGUF metadata keys of the tokenizer.
const (
	KeyModel     = "tokenizer.ggml.model"
	KeyPre       = "tokenizer.ggml.pre"
	KeyTokens    = "tokenizer.ggml.tokens"
	KeyScores    = "tokenizer.ggml.scores"
	KeyTokenType = "tokenizer.ggml.token_type"
	KeyMerges    = "tokenizer.ggml.merges"
	KeyBOS       = "tokenizer.ggml.bos_token_id"
	KeyEOS       = "tokenizer.ggml.eos_token_id"
	KeyAddBOS    = "tokenizer.ggml.add_bos_token"
)

// FromGGUF builds the tokenizer a GGUF file describes. The model and tokens
// are required, and so are scores for "llama" and merges for "gpt2"; a
// missing required key is an error naming it. Every other key is optional,
// and one that cannot be read (missing or of another type) counts as
// absent: no BOS or EOS, no token types, pre-tokenizer "default".
// add_bos_token defaults to true for "llama" and for the Llama-3
// pre-tokenizer (as llama.cpp), false otherwise.
func FromGGUF(md Metadata) (*Tokenizer, error) {
	v, err := vocabFromGGUF(md)
	if err != nil {
		return nil, err
	}
	return New(v)
}

func vocabFromGGUF(md Metadata) (Vocab, error) {
	var v Vocab
	var err error
	if v.Model, err = md.String(KeyModel); err != nil {
		return v, missing(KeyModel, err)
	}
	if v.Tokens, err = md.Strings(KeyTokens); err != nil {
		return v, missing(KeyTokens, err)
	}
	v.Pre, _ = md.String(KeyPre)
	v.Types, _ = md.Int32s(KeyTokenType)
	v.BOS, v.EOS = optionalID(md, KeyBOS), optionalID(md, KeyEOS)
	if err := readKindKeys(md, &v); err != nil {
		return v, err
	}
	v.AddBOS = optionalBool(md, KeyAddBOS, defaultAddBOS(v.Model, v.Pre))
	return v, nil
}

// readKindKeys reads what one kind needs: scores for SPM, merges for BPE.
func readKindKeys(md Metadata, v *Vocab) error {
	var err error
	v.Scores, err = md.Float32s(KeyScores)
	if err != nil && v.Model == "llama" {
		return missing(KeyScores, err)
	}
	v.Merges, err = md.Strings(KeyMerges)
	if err != nil && v.Model == "gpt2" {
		return missing(KeyMerges, err)
	}
	return nil
}

func missing(key string, err error) error {
	return fmt.Errorf("%w: reading %s: %v", ErrInvalidVocab, key, err)
}

func optionalID(md Metadata, key string) int {
	id, err := md.Uint(key)
	if err != nil {
		return -1
	}
	return int(min(id, math.MaxInt32)) // New rejects an id past the vocabulary
}

func optionalBool(md Metadata, key string, def bool) bool {
	b, err := md.Bool(key)
	if err != nil {
		return def
	}
	return b
}

func defaultAddBOS(model, pre string) bool {
	if model == "llama" {
		return true
	}
	p, err := preTokenizerFor(pre)
	return err == nil && p.addBOS
}
