package synth

import (
	"fmt"
	"strings"

	"github.com/tabshard/tabshard/model/gguf"
)

// Token types as tokenizer.ggml.token_type numbers them.
const (
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
)

// The fixed head of the vocabulary, laid out as llama2.c's and Llama 2's
// SentencePiece models lay it out: <unk>, <s>, </s>, then the 256 byte
// tokens, then the pieces.
const (
	unkID      = 0
	bosID      = 1
	eosID      = 2
	firstByte  = 3
	firstPiece = firstByte + 256
)

// spaceMark is SentencePiece's stand-in for a space.
const spaceMark = "▁"

// alphabet is the characters pieces are made of.
var alphabet = func() []string {
	chars := []string{spaceMark}
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()" {
		chars = append(chars, string(c))
	}
	return chars
}()

// Vocabulary returns the synthetic vocabulary of n tokens (n >= 259): the
// pieces, their scores and their token types. Pieces are generated shortest
// first — every single character of the alphabet, then two characters, then
// three, and so on — where only the first character may be the space mark,
// as in SentencePiece. Each longer piece is its prefix merged with its last
// character, both earlier pieces, so BPE merging can reach every piece; a
// piece's score is minus its rank, so shorter merges win, as in a trained
// model.
func Vocabulary(n int) (tokens []string, scores []float32, types []int32) {
	tokens = make([]string, 0, n)
	scores = make([]float32, n)
	types = make([]int32, n)
	tokens = append(tokens, "<unk>", "<s>", "</s>")
	types[unkID], types[bosID], types[eosID] = typeUnknown, typeControl, typeControl
	for b := 0; b < 256 && len(tokens) < n; b++ {
		types[len(tokens)] = typeByte
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
	}
	level := alphabet
	for len(tokens) < n {
		for _, p := range level {
			if len(tokens) == n {
				break
			}
			scores[len(tokens)] = -float32(len(tokens) - firstPiece)
			types[len(tokens)] = typeNormal
			tokens = append(tokens, p)
		}
		level = extend(level, n-len(tokens))
	}
	return tokens, scores, types
}

// extend returns up to limit pieces one character longer than those of
// level, never adding a space mark after the first character.
func extend(level []string, limit int) []string {
	var next []string
	var sb strings.Builder
	for _, p := range level {
		for _, c := range alphabet[1:] {
			if len(next) == limit {
				return next
			}
			sb.Reset()
			sb.WriteString(p)
			sb.WriteString(c)
			next = append(next, sb.String())
		}
	}
	return next
}

func (b *builder) vocab(n int) {
	tokens, scores, types := Vocabulary(n)
	b.add("tokenizer.ggml.model", gguf.String("llama"))
	b.add("tokenizer.ggml.tokens", gguf.Strings(tokens))
	b.add("tokenizer.ggml.scores", gguf.Float32s(scores))
	b.add("tokenizer.ggml.token_type", gguf.Int32s(types))
	b.add("tokenizer.ggml.bos_token_id", gguf.Uint32(bosID))
	b.add("tokenizer.ggml.eos_token_id", gguf.Uint32(eosID))
	b.add("tokenizer.ggml.unknown_token_id", gguf.Uint32(unkID))
	b.add("tokenizer.ggml.padding_token_id", gguf.Uint32(unkID))
}
