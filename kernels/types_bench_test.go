package kernels_test

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDot measures Codec.Dot over a 4096-column row; the bytes per
// second are of the stored row.
func BenchmarkDot(b *testing.B) {
	const cols = 4096
	rng := rand.New(rand.NewPCG(3, 4))
	src, x := make([]float32, cols), make([]float32, cols)
	for i := range src {
		src[i], x[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	for _, typ := range allTypes() {
		b.Run(typ.String(), func(b *testing.B) {
			row := quantizeRows(b, typ, src, cols)
			dot := mustCodec(b, typ).Dot
			b.SetBytes(int64(len(row)))
			var sink float32
			for b.Loop() {
				sink += dot(row, x)
			}
			_ = sink
		})
	}
}

// BenchmarkDequantize measures Codec.Dequantize over a 4096-column row.
func BenchmarkDequantize(b *testing.B) {
	const cols = 4096
	rng := rand.New(rand.NewPCG(3, 4))
	src, dst := make([]float32, cols), make([]float32, cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, typ := range allTypes() {
		b.Run(typ.String(), func(b *testing.B) {
			row := quantizeRows(b, typ, src, cols)
			deq := mustCodec(b, typ).Dequantize
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				deq(dst, row)
			}
		})
	}
}
