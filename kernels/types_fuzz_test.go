package kernels_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// fuzzType picks a type from a fuzzer byte.
func fuzzType(sel uint8) (kernels.DType, kernels.Layout) {
	types := kernels.DTypes()
	t := types[int(sel)%len(types)]
	l, _ := t.Layout()
	return t, l
}

// FuzzDequantize decodes arbitrary bytes as one block of any type: no
// panic, and Dot agrees with the decoded values wherever they are finite.
func FuzzDequantize(f *testing.F) {
	for i := range kernels.DTypes() {
		f.Add(uint8(i), []byte{0x00, 0x3c, 0x12, 0x34, 0xff, 0x7b, 0x80})
		f.Add(uint8(i), []byte{0x01, 0x7c, 0xff, 0xff, 0x00, 0xfc})
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		typ, l := fuzzType(sel)
		block := make([]byte, l.BlockBytes)
		copy(block, data)
		c := mustCodec(t, typ)
		out := make([]float32, l.BlockElems)
		c.Dequantize(out, block)
		ones := make([]float32, l.BlockElems)
		var want float64
		for i := range ones {
			ones[i] = 1
			want += float64(out[i])
		}
		got := c.Dot(block, ones)
		if !math.IsInf(want, 0) && !math.IsNaN(want) && math.Abs(float64(got)-want) > 1e-6*math.Abs(want)+1e-30 {
			t.Errorf("%v: Dot with ones %g, sum of values %g", typ, got, want)
		}
	})
}

// FuzzQuantize quantizes one block of arbitrary float32 values within
// binary16's range: no panic, and the decoded values are finite.
func FuzzQuantize(f *testing.F) {
	seed := make([]byte, 4*256)
	for i := range 256 {
		binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(float32(i%7)-3.25))
	}
	for i := range kernels.DTypes() {
		f.Add(uint8(i), seed)
		f.Add(uint8(i), []byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf})
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		typ, l := fuzzType(sel)
		src := make([]float32, l.BlockElems)
		for i := range src {
			if 4*i+4 > len(data) {
				break
			}
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if !(math.Abs(float64(v)) <= 65504) { // NaN, Inf, or beyond binary16
				v = 0
			}
			src[i] = v
		}
		c := mustCodec(t, typ)
		block := make([]byte, l.BlockBytes)
		c.Quantize(block, src)
		out := make([]float32, l.BlockElems)
		c.Dequantize(out, block)
		for i, v := range out {
			if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
				t.Fatalf("%v: value %d: %g decodes to %g", typ, i, src[i], v)
			}
		}
	})
}
