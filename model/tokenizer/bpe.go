package tokenizer

import (
	"fmt"
	"strings"
)

// bpeData is what the byte-level BPE encoder needs beyond the vocabulary.
type bpeData struct {
	byteID       [256]int              // token of each byte's character
	merges       map[uint64]bpeMerge   // (left, right) ids -> merge
	split        func(string) []string // the pre-tokenizer
	ignoreMerges bool                  // a whole word that is a token stays one
}

type bpeMerge struct {
	rank   int32
	merged int32
}

func pairKey(left, right int) uint64 { return uint64(left)<<32 | uint64(uint32(right)) }

func (t *Tokenizer) initBPE(v Vocab) error {
	pre, err := preTokenizerFor(v.Pre)
	if err != nil {
		return err
	}
	t.bpe.split, t.bpe.ignoreMerges = pre.split, pre.ignoreMerges
	if err := t.initByteTokens(); err != nil {
		return err
	}
	return t.initMerges(v.Merges)
}

// initByteTokens finds the token of each byte's character. Vocabularies
// llama.cpp loads lack some (GPT-NeoX's, MPT's and StarCoder's the bytes
// UTF-8 never uses, 0xC0, 0xC1, 0xF5…0xFF; Falcon's a few control
// characters too): such a byte has no token, and Encode drops it, as
// llama.cpp does. A vocabulary with none of them is not byte-level.
func (t *Tokenizer) initByteTokens() error {
	found := 0
	for b := range 256 {
		t.bpe.byteID[b] = -1
		if id, ok := t.ids[string(byteRune[b])]; ok {
			t.bpe.byteID[b] = id
			found++
		}
	}
	if found == 0 {
		return fmt.Errorf("%w: byte-level vocabulary has no token for any byte", ErrInvalidVocab)
	}
	return nil
}

func (t *Tokenizer) initMerges(lines []string) error {
	if len(lines) == 0 {
		return fmt.Errorf("%w: byte-level BPE vocabulary has no merges", ErrInvalidVocab)
	}
	t.bpe.merges = make(map[uint64]bpeMerge, len(lines))
	for rank, line := range lines {
		left, right, merged, err := t.parseMerge(line)
		if err != nil {
			return fmt.Errorf("%w: merge %d %q: %v", ErrInvalidVocab, rank, line, err)
		}
		key := pairKey(left, right)
		if _, dup := t.bpe.merges[key]; !dup {
			t.bpe.merges[key] = bpeMerge{rank: int32(rank), merged: int32(merged)}
		}
	}
	return nil
}

// parseMerge splits "left right" at its first space after the first
// character (as llama.cpp does) and finds the three tokens involved.
func (t *Tokenizer) parseMerge(line string) (left, right, merged int, err error) {
	cut := -1
	if len(line) > 1 {
		cut = strings.IndexByte(line[1:], ' ') + 1
	}
	if cut <= 0 || cut == len(line)-1 {
		return 0, 0, 0, fmt.Errorf("want two tokens separated by a space")
	}
	a, b := line[:cut], line[cut+1:]
	for _, s := range []string{a, b, a + b} {
		if _, ok := t.ids[s]; !ok {
			return 0, 0, 0, fmt.Errorf("%q is not a token", s)
		}
	}
	return t.ids[a], t.ids[b], t.ids[a+b], nil
}

// encodeBPE appends the tokens of each pre-tokenized word of text.
func (t *Tokenizer) encodeBPE(ids []int, text string) []int {
	for _, word := range t.bpe.split(text) {
		ids = append(ids, t.encodeWord(word)...)
	}
	return ids
}

func (t *Tokenizer) encodeWord(word string) []int {
	if t.bpe.ignoreMerges {
		if id, ok := t.ids[byteLevel(word)]; ok {
			return []int{id}
		}
	}
	syms := make([]int, 0, len(word))
	for i := 0; i < len(word); i++ {
		if id := t.bpe.byteID[word[i]]; id >= 0 {
			syms = append(syms, id)
		}
	}
	return mergeAll(syms, t.bpePair)
}

// bpePair merges a pair listed in the merges, the lower rank first.
func (t *Tokenizer) bpePair(left, right int) (int, float64, bool) {
	m, ok := t.bpe.merges[pairKey(left, right)]
	return int(m.merged), float64(m.rank), ok
}
