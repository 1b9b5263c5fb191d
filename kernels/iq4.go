package kernels

import "encoding/binary"

// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear codebook.
// IQ4_NL has blocks of 32 with one fp16 scale; IQ4_XS has super-blocks of
// 256 with an fp16 unit and a signed 6-bit scale per 32-value sub-block.
// Within every 32 values the nibbles are arranged as Q4_0's.

const (
	iq4NLBytes = 18  // d fp16 | qs[16]
	iq4XSBytes = 136 // d fp16 | scales_h u16 | scales_l[4] | qs[128]
)

// iq4Values is the IQ4 codebook, ascending.
var iq4Values = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4NTry is how many inverse scales on each side of the first guess the
// quantizers try.
const iq4NTry = 7

// deqIQ4Group decodes 32 values with scale d from 16 nibble bytes.
func deqIQ4Group(dst []float32, qs []byte, d float32) {
	dst = dst[:32]
	for j, q := range qs[:16] {
		dst[j] = d * float32(iq4Values[q&0xf])
		dst[j+16] = d * float32(iq4Values[q>>4])
	}
}

// iq4Index returns the codebook entry nearest to v, the upper one on ties.
func iq4Index(v float32) uint8 {
	v = float32(v)
	if v <= float32(iq4Values[0]) {
		return 0
	}
	if v >= float32(iq4Values[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if v < float32(iq4Values[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if v-float32(iq4Values[hi-1]) < float32(iq4Values[hi])-v {
		return uint8(hi - 1)
	}
	return uint8(hi)
}

// iq4FitScale finds the scale of 32 values by x²-weighted least squares
// over codes from max/127 and from 15 further inverse scales
// (t-127)/max, t = -7..7 (ggml's quantize_row_iq4_nl_impl search).
func iq4FitScale(x []float32) float32 {
	max, amax := signedAbsMax(x)
	if amax < groupMaxEps {
		return 0
	}
	d := -max / float32(iq4Values[0])
	sumqx, sumq2 := iq4Sums(x, 1/d)
	d = 0
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := d * sumqx
	for t := -iq4NTry; t <= iq4NTry; t++ {
		id := float32(t+int(iq4Values[0])) / max
		sumqx, sumq2 = iq4Sums(x, id)
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			d = sumqx / sumq2
			best = d * sumqx
		}
	}
	return d
}

// iq4Sums codes x with inverse scale id and returns the x²-weighted sums
// Σw·q·x and Σw·q².
func iq4Sums(x []float32, id float32) (sumqx, sumq2 float32) {
	for _, v := range x {
		q := float32(iq4Values[iq4Index(id*v)])
		w := v * v
		sumqx += float32(w * q * v)
		sumq2 += float32(w * q * q)
	}
	return sumqx, sumq2
}

// packIQ4Group codes 32 values with inverse scale id into 16 nibble bytes.
func packIQ4Group(qs []byte, x []float32, id float32) {
	qs, x = qs[:16], x[:32]
	for j := range qs {
		qs[j] = iq4Index(id*x[j]) | iq4Index(id*x[j+16])<<4
	}
}

// deqBlockIQ4NL decodes one block.
func deqBlockIQ4NL(dst *[32]float32, b *[iq4NLBytes]byte) {
	deqIQ4Group(dst[:], b[2:], getFP16(b[0:]))
}

// quantBlockIQ4NL stores the fitted scale and codes from its inverse.
func quantBlockIQ4NL(dst *[iq4NLBytes]byte, x *[32]float32) {
	d := iq4FitScale(x[:])
	putFP16(dst[0:], d)
	packIQ4Group(dst[2:], x[:], invOrZero(d))
}

// iq4XSScale returns the 6-bit scale field (0..63) of sub-block ib.
func iq4XSScale(b *[iq4XSBytes]byte, ib int) int {
	h := binary.LittleEndian.Uint16(b[2:])
	low := int(b[4+ib/2]>>(4*(ib%2))) & 0xf
	return low | int(h>>(2*ib)&3)<<4
}

// deqBlockIQ4XS decodes one super-block.
func deqBlockIQ4XS(dst *[qkK]float32, b *[iq4XSBytes]byte) {
	d := getFP16(b[0:])
	for ib := range 8 {
		dl := d * float32(iq4XSScale(b, ib)-32)
		deqIQ4Group(dst[32*ib:], b[8+16*ib:], dl)
	}
}

// quantBlockIQ4XS fits every sub-block as IQ4_NL does, codes the scales in
// 6 signed bits against the largest-magnitude one, and re-codes the values
// with the coded scales (before fp16 rounding of d, as ggml).
func quantBlockIQ4XS(dst *[iq4XSBytes]byte, x *[qkK]float32) {
	var scales [8]float32
	var maxScale, amax float32
	for ib := range 8 {
		scales[ib] = iq4FitScale(x[32*ib:][:32])
		if a := abs32(scales[ib]); a > amax {
			amax, maxScale = a, scales[ib]
		}
	}
	d := -maxScale / 32
	putFP16(dst[0:], d)
	id := invOrZero(d)
	var sh uint16
	sl := dst[4:8]
	clear(sl)
	for ib, s := range scales {
		l := clampInt(nearestInt(id*s), -32, 31)
		dl := d * float32(l)
		packIQ4Group(dst[8+16*ib:], x[32*ib:], invOrZero(dl))
		l += 32
		sl[ib/2] |= byte(l&0xf) << (4 * (ib % 2))
		sh |= uint16(l>>4) << (2 * ib)
	}
	binary.LittleEndian.PutUint16(dst[2:], sh)
}

func dequantizeIQ4NL(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), iq4NLBytes)
	for i := range n {
		deqBlockIQ4NL((*[32]float32)(dst[32*i:]), (*[iq4NLBytes]byte)(src[iq4NLBytes*i:]))
	}
}

func dotIQ4NL(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), iq4NLBytes)
	var lut [16]float64
	var acc dotSums
	for i := range n {
		b := src[iq4NLBytes*i:][:iq4NLBytes]
		iq4Table(&lut, getFP16(b))
		acc.addNibblePairs(&lut, b[2:], x[32*i:])
	}
	return acc.sum()
}

// iq4Table sets lut to the values d*K[k] of the codebook scaled by d.
func iq4Table(lut *[16]float64, d float32) {
	for k, v := range iq4Values {
		lut[k] = float64(d * float32(v))
	}
}

func quantizeIQ4NL(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), iq4NLBytes)
	for i := range n {
		quantBlockIQ4NL((*[iq4NLBytes]byte)(dst[iq4NLBytes*i:]), (*[32]float32)(src[32*i:]))
	}
}

func dequantizeIQ4XS(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), iq4XSBytes)
	for i := range n {
		deqBlockIQ4XS((*[qkK]float32)(dst[qkK*i:]), (*[iq4XSBytes]byte)(src[iq4XSBytes*i:]))
	}
}

func dotIQ4XS(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), iq4XSBytes)
	var lut [16]float64
	var acc dotSums
	for i := range n {
		b := (*[iq4XSBytes]byte)(src[iq4XSBytes*i:])
		d := getFP16(b[0:])
		for ib := range 8 {
			iq4Table(&lut, d*float32(iq4XSScale(b, ib)-32))
			acc.addNibblePairs(&lut, b[8+16*ib:], x[qkK*i+32*ib:])
		}
	}
	return acc.sum()
}

func quantizeIQ4XS(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), iq4XSBytes)
	for i := range n {
		quantBlockIQ4XS((*[iq4XSBytes]byte)(dst[iq4XSBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
