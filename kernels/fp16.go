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
	exp := h >> 10 & 0x1f
	if exp == 0 {
		return fp16SubnormalToFP32(h)
	}
	// Rebias the exponent (15 -> 127) by adding 112 to it; Inf and NaN
	// (exponent 31, the only one with (exp+1)>>5 == 1) need 112 more to
	// reach 255. Arithmetic rather than a branch keeps the loops that call
	// this tight.
	rebias := (112 + 112*uint32((exp+1)>>5)) << 23
	return math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + rebias))
}

// fp16SubnormalToFP32 converts a binary16 zero or subnormal, man × 2^-24.
func fp16SubnormalToFP32(h uint16) float32 {
	f := float32(h&0x3ff) * 0x1p-24
	if h&0x8000 != 0 {
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
		dst[i] = getF32(src[4*i:])
	}
}

func quantizeF32(dst []byte, src []float32) {
	blockCount(len(src), 1, len(dst), 4)
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// dotF32 reads the row's floats in place, accumulating exactly as
// dotSums.add does (the same holds for dotF16 and dotBF16).
func dotF32(src []byte, x []float32) float32 {
	blockCount(len(x), 1, len(src), 4)
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b, q := src[4*i:4*i+16:4*i+16], x[i:i+4:i+4]
		s0 += float64(getF32(b[0:])) * float64(q[0])
		s1 += float64(getF32(b[4:])) * float64(q[1])
		s2 += float64(getF32(b[8:])) * float64(q[2])
		s3 += float64(getF32(b[12:])) * float64(q[3])
	}
	d := dotSums{s0, s1, s2, s3}
	var buf [3]float32
	a := buf[:len(x)-i]
	for k := range a {
		a[k] = getF32(src[4*(i+k):])
	}
	d.add(a, x[i:])
	return d.sum()
}

// getF32 reads the little-endian float32 at b[0:4].
func getF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

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
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b, q := src[2*i:2*i+8:2*i+8], x[i:i+4:i+4]
		s0 += float64(FP16ToFP32(binary.LittleEndian.Uint16(b[0:]))) * float64(q[0])
		s1 += float64(FP16ToFP32(binary.LittleEndian.Uint16(b[2:]))) * float64(q[1])
		s2 += float64(FP16ToFP32(binary.LittleEndian.Uint16(b[4:]))) * float64(q[2])
		s3 += float64(FP16ToFP32(binary.LittleEndian.Uint16(b[6:]))) * float64(q[3])
	}
	return halvesTail(dotSums{s0, s1, s2, s3}, src[2*i:], x[i:], FP16ToFP32)
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
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b, q := src[2*i:2*i+8:2*i+8], x[i:i+4:i+4]
		s0 += float64(BF16ToFP32(binary.LittleEndian.Uint16(b[0:]))) * float64(q[0])
		s1 += float64(BF16ToFP32(binary.LittleEndian.Uint16(b[2:]))) * float64(q[1])
		s2 += float64(BF16ToFP32(binary.LittleEndian.Uint16(b[4:]))) * float64(q[2])
		s3 += float64(BF16ToFP32(binary.LittleEndian.Uint16(b[6:]))) * float64(q[3])
	}
	return halvesTail(dotSums{s0, s1, s2, s3}, src[2*i:], x[i:], BF16ToFP32)
}

// halvesTail adds the last len(x) < 4 values of a row of 16-bit floats,
// decoded by conv, and returns the dot product. The 4-way loops of dotF16
// and dotBF16 accumulate exactly as dotSums.add does, so this completes
// the same sum.
func halvesTail(d dotSums, src []byte, x []float32, conv func(uint16) float32) float32 {
	var buf [3]float32
	a := buf[:len(x)]
	for k := range a {
		a[k] = conv(binary.LittleEndian.Uint16(src[2*k:]))
	}
	d.add(a, x)
	return d.sum()
}
