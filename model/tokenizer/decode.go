package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Piece returns the bytes token tok adds to the text when it follows token
// prev (-1 for none), as llama2.c's run.c prints them: for SPM, the
// vocabulary string with "▁" read as " ", less its leading space right after
// BOS, and a "<0xNN>" byte token as that raw byte; for BPE, the bytes the
// token's byte-level characters stand for (a user-defined token's text as
// is). Control and unused tokens, and ids out of range, give nothing — run.c
// would print its own "\n</s>\n" for EOS. A piece may be part of a UTF-8
// sequence; StreamDecoder assembles them.
func (t *Tokenizer) Piece(prev, tok int) []byte {
	if tok < 0 || tok >= len(t.tokens) {
		return nil
	}
	if t.kind == KindSPM {
		return t.spmPiece(prev, tok)
	}
	return t.bpePiece(tok)
}

func (t *Tokenizer) spmPiece(prev, tok int) []byte {
	if b := t.spm.byteVal[tok]; b >= 0 {
		return []byte{byte(b)}
	}
	if t.isHidden(tok) {
		return nil
	}
	s := t.text[tok]
	if prev >= 0 && prev == t.bos {
		s = strings.TrimPrefix(s, " ")
	}
	return []byte(s)
}

func (t *Tokenizer) bpePiece(tok int) []byte {
	switch t.types[tok] {
	case TypeControl, TypeUnused:
		return nil
	case TypeUserDefined:
		return []byte(t.tokens[tok])
	}
	return unByteLevel(t.tokens[tok])
}

// SafePiece filters a piece as run.c's safe_printf does, for a CLI that must
// print what run.c prints: a one-byte piece that is an ASCII control
// character other than whitespace is dropped. Unlike run.c it keeps bytes
// of 0x80 and above, so that a terminal assembles them into UTF-8.
func SafePiece(piece []byte) []byte {
	if len(piece) == 1 && piece[0] < 0x80 && !printableOrSpace(piece[0]) {
		return nil
	}
	return piece
}

// printableOrSpace is C's isprint || isspace in the "C" locale.
func printableOrSpace(c byte) bool {
	return (' ' <= c && c <= '~') || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Decode returns the text of ids. Byte tokens are assembled into UTF-8;
// a byte that cannot be part of valid UTF-8, or an incomplete sequence at
// the end, becomes U+FFFD (one per byte). It equals what a StreamDecoder
// returns for the same ids, Flush included.
func (t *Tokenizer) Decode(ids []int) string {
	d := t.NewStreamDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Push(id))
	}
	b.WriteString(d.Flush())
	return b.String()
}

// StreamDecoder turns tokens into text one at a time, as they are generated,
// holding back the bytes of an incomplete UTF-8 sequence until the tokens
// that complete it arrive. It is not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	prev    int
	pending []byte
}

// NewStreamDecoder returns a decoder at the start of a text.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, prev: -1}
}

// Push adds token tok and returns the text that is now complete.
func (d *StreamDecoder) Push(tok int) string {
	d.pending = append(d.pending, d.t.Piece(d.prev, tok)...)
	d.prev = tok
	return d.take(false)
}

// Flush returns the held-back bytes of an unfinished UTF-8 sequence, each
// as U+FFFD, at the end of the text. Pushing may go on afterwards.
func (d *StreamDecoder) Flush() string {
	return d.take(true)
}

func (d *StreamDecoder) take(final bool) string {
	out, rest := appendUTF8(nil, d.pending, final)
	d.pending = append(d.pending[:0], rest...)
	return string(out)
}

// appendUTF8 appends src to dst as valid UTF-8, each invalid byte replaced
// by U+FFFD, and returns what it left: unless final, the tail of src that
// could still become a character when more bytes come.
func appendUTF8(dst, src []byte, final bool) ([]byte, []byte) {
	for len(src) > 0 {
		if !final && !utf8.FullRune(src) {
			break
		}
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst, src
}
