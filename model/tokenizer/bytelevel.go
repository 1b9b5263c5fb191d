package tokenizer

import (
	"unicode/utf8"
)

// GPT-2's byte-level alphabet: every byte stands for one printable
// character. Bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ')
// stand for themselves; the other 68 take U+0100, U+0101, ... in byte order
// (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
var byteRune, runeByte = byteLevelTables()

func byteLevelTables() (toRune [256]rune, toByte map[rune]byte) {
	toByte = make(map[rune]byte, 256)
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !selfPrintable(b) {
			r = next
			next++
		}
		toRune[b] = r
		toByte[r] = byte(b)
	}
	return toRune, toByte
}

func selfPrintable(b int) bool {
	return ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)
}

// byteLevel returns s's bytes written in the byte-level alphabet.
func byteLevel(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteRune[s[i]])
	}
	return string(buf)
}

// unByteLevel returns the bytes a byte-level string stands for; a character
// outside the alphabet stands for its own UTF-8 encoding.
func unByteLevel(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := runeByte[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}
