package tokenizer

import (
	"strings"
	"testing"
)

var benchText = strings.Repeat("Once upon a time, there was a little girl named Lily. 日本 🙂\n", 200)

func BenchmarkEncodeSPM(b *testing.B) {
	tok := stories(b)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Encode(benchText)
	}
}

func BenchmarkEncodeBPE(b *testing.B) {
	s := loadSubset(b, "qwen2")
	tok := newOrFatal(b, s.vocabulary(s.Pre))
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Encode(benchText)
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := stories(b)
	ids := tok.Encode(benchText)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Decode(ids)
	}
}
