package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// byteTokens returns the stories260K byte tokens of s's bytes.
func byteTokens(tok *Tokenizer, s string) []int {
	var ids []int
	for i := 0; i < len(s); i++ {
		ids = append(ids, tok.spm.byteID[s[i]])
	}
	return ids
}

func pushAll(d *StreamDecoder, ids []int) []string {
	var out []string
	for _, id := range ids {
		out = append(out, d.Push(id))
	}
	return out
}

func TestStreamDecoderHoldsIncompleteUTF8(t *testing.T) {
	tok := stories(t)
	d := tok.NewStreamDecoder()
	ids := append([]int{tok.BOS(), 403}, byteTokens(tok, "🙂")...)
	got := pushAll(d, ids)
	want := []string{"", "Once", "", "", "", "🙂"}
	if !slices.Equal(got, want) {
		t.Fatalf("Push results %q, want %q", got, want)
	}
	if f := d.Flush(); f != "" {
		t.Fatalf("Flush = %q, want nothing held", f)
	}
}

func TestStreamDecoderFlushReplacesUnfinished(t *testing.T) {
	tok := stories(t)
	d := tok.NewStreamDecoder()
	got := pushAll(d, byteTokens(tok, "\xf0\x9f"))
	if strings.Join(got, "") != "" {
		t.Fatalf("Push results %q, want nothing yet", got)
	}
	if f := d.Flush(); f != "\uFFFD\uFFFD" {
		t.Fatalf("Flush = %q, want two U+FFFD", f)
	}
	if s := d.Push(411); s != "e" {
		t.Fatalf("Push after Flush = %q, want %q", s, "e")
	}
}

func TestStreamDecoderInvalidByteIsNotHeld(t *testing.T) {
	tok := stories(t)
	d := tok.NewStreamDecoder()
	got := pushAll(d, byteTokens(tok, "\xe6\x97A\xff"))
	want := []string{"", "", "\uFFFD\uFFFDA", "\uFFFD"}
	if !slices.Equal(got, want) {
		t.Fatalf("Push results %q, want %q", got, want)
	}
}

// TestStreamEqualsDecode pushes random token sequences, byte tokens among
// them, and checks that the streamed text is Decode's, and valid UTF-8.
func TestStreamEqualsDecode(t *testing.T) {
	toks := map[string]*Tokenizer{"stories260K": stories(t), "gpt2": bpeFuzzTokenizers(t)[0]}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, tok := range toks {
		for range 500 {
			ids := make([]int, rng.IntN(20))
			for i := range ids {
				ids[i] = rng.IntN(tok.Len())
			}
			d := tok.NewStreamDecoder()
			streamed := strings.Join(pushAll(d, ids), "") + d.Flush()
			if want := tok.Decode(ids); streamed != want || !utf8.ValidString(streamed) {
				t.Fatalf("%s %v: streamed %q, Decode %q", name, ids, streamed, want)
			}
		}
	}
}
