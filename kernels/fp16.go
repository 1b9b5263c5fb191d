package kernels

import (
	"encoding/binary"
	"math"
)

// This file holds the float element types: IEEE binary16 and bfloat16
// conversions, and the F32, F16 and BF16 codecs.

// FP16ToFP32 converts an IEEE binary16 value to float32 exactly; subnormals,
// infinities and NaN payloads are preserved.
func FP16ToFP32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	f := float32(man) * 0x1p-24 // subnormal: exact
	if sign != 0 {
		f = -f
	}
	return f
}

// FP32ToFP16 converts f to IEEE binary16 with round-to-nearest-even, as ggml
// does: values too large become ±Inf, values too small ±0 (through correctly
// rounded subnormals), and every NaN becomes sign|0x7E00.
func FP32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		return sign | fp16Subnormal(man, e)
	}
	// A carry out of the mantissa correctly bumps the exponent, up to Inf.
	return sign | uint16(roundShiftEven(uint32(e)<<23|man, 13))
}

// fp16Subnormal rounds 1.man × 2^(e-15), e <= 0, to a count of binary16's
// smallest subnormal 2^-24 (possibly 0x400, the smallest normal).
func fp16Subnormal(man uint32, e int) uint16 {
	if e < -10 { // below half the smallest subnormal
		return 0
	}
	return uint16(roundShiftEven(man|0x800000, uint(14-e)))
}

// roundShiftEven returns v >> s rounded to nearest, ties to even; 0 < s < 32.
func roundShiftEven(v uint32, s uint) uint32 {
	q, rem, half := v>>s, v&(1<<s-1), uint32(1)<<(s-1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// BF16ToFP32 converts a bfloat16 value to float32 exactly.
func BF16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// FP32ToBF16 converts f to bfloat16 as ggml's reference does: round to
// nearest even without flushing subnormals, NaN made quiet (bit 6 set).
func FP32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func dequantizeF32(dst []float32, src []byte) {
	blockCount(len(dst), 1, len(src), 4)
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func quantizeF32(dst []byte, src []float32) {
	blockCount(len(src), 1, len(dst), 4)
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// dotF32 decodes 32 values at a time onto the stack and sums them as
// dotAcc does.
func dotF32(src []byte, x []float32) float32 {
	blockCount(len(x), 1, len(src), 4)
	var buf [32]float32
	var acc dotSums
	for len(x) > 0 {
		n := min(len(x), 32)
		a := buf[:n]
		for i := range a {
			a[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		acc.add(a, x[:n])
		src, x = src[4*n:], x[n:]
	}
	return acc.sum()
}

func dequantizeF16(dst []float32, src []byte) {
	blockCount(len(dst), 1, len(src), 2)
	for i := range dst {
		dst[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func quantizeF16(dst []byte, src []float32) {
	blockCount(len(src), 1, len(dst), 2)
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
	}
}

func dotF16(src []byte, x []float32) float32 {
	blockCount(len(x), 1, len(src), 2)
	var buf [32]float32
	var acc dotSums
	for len(x) > 0 {
		n := min(len(x), 32)
		a := buf[:n]
		for i := range a {
			a[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		acc.add(a, x[:n])
		src, x = src[2*n:], x[n:]
	}
	return acc.sum()
}

func dequantizeBF16(dst []float32, src []byte) {
	blockCount(len(dst), 1, len(src), 2)
	for i := range dst {
		dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func quantizeBF16(dst []byte, src []float32) {
	blockCount(len(src), 1, len(dst), 2)
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
	}
}

func dotBF16(src []byte, x []float32) float32 {
	blockCount(len(x), 1, len(src), 2)
	var buf [32]float32
	var acc dotSums
	for len(x) > 0 {
		n := min(len(x), 32)
		a := buf[:n]
		for i := range a {
			a[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		acc.add(a, x[:n])
		src, x = src[2*n:], x[n:]
	}
	return acc.sum()
}
