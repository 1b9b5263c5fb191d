package kernels

import (
	"encoding/binary"
	"math"
)

// Helpers shared by the block quantizers. The quantizers follow ggml's
// reference procedures operation by operation, in float32, so that they give
// its bytes. Go may fuse x*y+z into one rounding on some architectures; an
// explicit float32(...) around a product stops that, and the quantizers use
// one wherever a product is added to something.

// getFP16 reads the little-endian binary16 at b[0:2] as float32.
func getFP16(b []byte) float32 { return FP16ToFP32(binary.LittleEndian.Uint16(b)) }

// putFP16 stores f at b[0:2] as little-endian binary16.
func putFP16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

// signedAbsMax returns the value of largest magnitude in x (the first one
// on ties, sign kept) and its magnitude.
func signedAbsMax(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	return max, amax
}

// minMax returns the smallest and largest values of x.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// invOrZero is 1/d, or 0 when d is zero.
func invOrZero(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

// abs32 is |v| for float32.
func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// truncInt converts v to an integer as C's float-to-int cast does on x86:
// toward zero, through a 32-bit integer.
func truncInt(v float32) int32 { return int32(v) }

// truncCode is C's MIN(hi, (int8_t)v) for a quantizer's code.
func truncCode(v float32, hi int8) uint8 {
	return uint8(min(hi, int8(truncInt(v))))
}
