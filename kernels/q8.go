package kernels

import "math"

// Q8_0: 32 values per block, signed 8-bit codes and one fp16 scale.

const q8_0Bytes = 34 // d fp16 | qs[32] int8

// deqBlockQ8_0 decodes y = float(q) * d.
func deqBlockQ8_0(dst *[32]float32, b *[q8_0Bytes]byte) {
	d := getFP16(b[0:])
	for j, q := range b[2:34] {
		dst[j] = float32(int8(q)) * d
	}
}

// quantBlockQ8_0 maps the largest magnitude to ±127, rounding halves away
// from zero (C's roundf).
func quantBlockQ8_0(dst *[q8_0Bytes]byte, x *[32]float32) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	d := amax / 127
	id := invOrZero(d)
	putFP16(dst[0:], d)
	for j, v := range x {
		dst[2+j] = byte(int8(int32(math.Round(float64(v * id)))))
	}
}

func dequantizeQ8_0(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), q8_0Bytes)
	for i := range n {
		deqBlockQ8_0((*[32]float32)(dst[32*i:]), (*[q8_0Bytes]byte)(src[q8_0Bytes*i:]))
	}
}

func dotQ8_0(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), q8_0Bytes)
	var acc dotSums
	for i := range n {
		b := src[q8_0Bytes*i:][:q8_0Bytes]
		acc.addInt8(float64(getFP16(b)), b[2:], x[32*i:])
	}
	return acc.sum()
}

func quantizeQ8_0(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), q8_0Bytes)
	for i := range n {
		quantBlockQ8_0((*[q8_0Bytes]byte)(dst[q8_0Bytes*i:]), (*[32]float32)(src[32*i:]))
	}
}
