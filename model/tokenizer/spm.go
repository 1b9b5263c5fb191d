package tokenizer

import "fmt"

// spmData is what the SentencePiece-style encoder needs beyond the vocabulary.
type spmData struct {
	scores  []float32
	byteID  [256]int // id of "<0xNN>" for each byte
	byteVal []int16  // per token: the byte a "<0xNN>" token stands for, or -1
}

// minMergeScore is run.c's starting best score: a pair whose token scores
// no more than this never merges.
const minMergeScore = float32(-1e10)

func (t *Tokenizer) initSPM(v Vocab) error {
	t.spm.scores = v.Scores
	t.spm.byteVal = make([]int16, len(v.Tokens))
	for id, s := range v.Tokens {
		t.spm.byteVal[id] = int16(parseByteToken(s))
	}
	for b := range 256 {
		name := fmt.Sprintf("<0x%02X>", b)
		id, ok := t.ids[name]
		if !ok {
			return fmt.Errorf("%w: SentencePiece vocabulary lacks byte token %q", ErrInvalidVocab, name)
		}
		t.spm.byteID[b] = id
	}
	return nil
}

// parseByteToken returns the byte a "<0xNN>" piece stands for, or -1.
func parseByteToken(s string) int {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return -1
	}
	hi, lo := hexDigit(s[3]), hexDigit(s[4])
	if hi < 0 || lo < 0 {
		return -1
	}
	return hi<<4 | lo
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// encodeSPM appends the tokens of text as run.c's encode does: a " " dummy
// prefix, one token per UTF-8 character or byte tokens for characters not in
// the vocabulary, then score merges. Like run.c it merges any adjacent pair
// whose concatenated strings are a token (byte tokens' "<0xNN>" strings
// included), highest score first, leftmost on ties, and never a pair whose
// token scores -1e10 or less. Where run.c differs, we do not follow it:
// BOS takes no part in merges (run.c's "\n<s>\n" never merged either), a
// NUL byte is text rather than the end of a C string, and a vocabulary
// without " " gets the dummy prefix as a byte token instead of id -1.
func (t *Tokenizer) encodeSPM(ids []int, text string) []int {
	if text == "" {
		return ids
	}
	syms := t.spmChar(make([]int, 0, len(text)+1), " ")
	for i := 0; i < len(text); {
		n := runCharLen(text[i:])
		syms = t.spmChar(syms, text[i:i+n])
		i += n
	}
	var buf []byte
	rule := func(l, r int) (int, float64, bool) { return t.spmPair(&buf, l, r) }
	return append(ids, mergeAll(syms, rule)...)
}

// runCharLen is the length of the "character" run.c cuts at the start of s:
// one byte and the continuation bytes after it, at most four bytes in all.
func runCharLen(s string) int {
	n := 1
	for n < len(s) && n < 4 && s[n]&0xC0 == 0x80 {
		n++
	}
	return n
}

// spmChar appends the token of one character, or its bytes' byte tokens.
func (t *Tokenizer) spmChar(dst []int, ch string) []int {
	if id, ok := t.ids[ch]; ok {
		return append(dst, id)
	}
	for i := 0; i < len(ch); i++ {
		dst = append(dst, t.spm.byteID[ch[i]])
	}
	return dst
}

// spmPair is run.c's merge test: the concatenated strings must be a token,
// whose score is the pair's priority (higher first).
func (t *Tokenizer) spmPair(buf *[]byte, left, right int) (int, float64, bool) {
	*buf = append(append((*buf)[:0], t.text[left]...), t.text[right]...)
	id, ok := t.ids[string(*buf)]
	if !ok {
		return 0, 0, false
	}
	score := t.spm.scores[id]
	if !(score > minMergeScore) {
		return 0, 0, false
	}
	return id, -float64(score), true
}
