package kernels

import "math"

// Q4_K: 256 values in 8 sub-blocks of 32, 4-bit codes, 6-bit scales and
// mins (packed by packScaleMinK4), y = (d*sc)*q - dmin*m. Q5_K shares its
// scale fitting (fitScaleMinK).

const q4KBytes = 144 // d fp16 | dmin fp16 | scales[12] | qs[128]

// q4KSearch and q5KSearch are the affine fits Q4_K and Q5_K use per
// sub-block.
var (
	q4KSearch = affineSearch{nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20}
	q5KSearch = affineSearch{nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15}
)

// kScaleMin is the decoded header of a Q4_K or Q5_K super-block: the
// scale d*sc and offset dmin*m of each sub-block.
type kScaleMin struct{ d, m [8]float32 }

// decodeScaleMinK decodes d, dmin and the 12 scale bytes at b[0:16].
func decodeScaleMinK(b []byte) kScaleMin {
	var k kScaleMin
	d, dmin := getFP16(b[0:]), getFP16(b[2:])
	for j := range 8 {
		sc, m := scaleMinK4(j, (*[12]byte)(b[4:16]))
		k.d[j], k.m[j] = d*float32(sc), float32(dmin*float32(m))
	}
	return k
}

// deqBlockQ4K decodes one super-block.
func deqBlockQ4K(dst *[qkK]float32, b *[q4KBytes]byte) {
	k := decodeScaleMinK(b[:16])
	for j := range 8 {
		q := b[16+32*(j/2):][:32]
		shift := 4 * (j % 2)
		d, m := k.d[j], k.m[j]
		out := dst[32*j:][:32]
		for l, v := range q {
			out[l] = float32(d*float32(v>>shift&0xf)) - m
		}
	}
}

// quantBlockQ4K fits the super-block and packs its 4-bit codes.
func quantBlockQ4K(dst *[q4KBytes]byte, x *[qkK]float32) {
	var L [qkK]uint8
	fitScaleMinK(dst[:16], x, &L, &q4KSearch)
	for j := 0; j < qkK; j += 64 {
		q := dst[16+j/2:][:32]
		for l := range q {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

// fitScaleMinK is the quantizer shared by Q4_K and Q5_K: it fits each
// 32-value sub-block with weights rms(sub-block)+|x|, codes the scales and
// mins in 6 bits against their maxima, writes the 16-byte header to hdr,
// and leaves in L the codes re-computed with the stored values.
func fitScaleMinK(hdr []byte, x *[qkK]float32, L *[qkK]uint8, s *affineSearch) {
	var laux [32]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j:][:32]
		subBlockWeights(&weights, xs)
		scales[j], mins[j] = makeQKX2Quants(s, xs, weights[:], L[32*j:][:32], laux[:])
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var ls, lm [8]uint8
	invScale, invMin := inv63(maxScale), inv63(maxMin)
	for j := range 8 {
		ls[j] = min(63, uint8(nearestInt(invScale*scales[j])))
		lm[j] = min(63, uint8(nearestInt(invMin*mins[j])))
	}
	packScaleMinK4((*[12]byte)(hdr[4:16]), &ls, &lm)
	putFP16(hdr[0:], maxScale/63)
	putFP16(hdr[2:], maxMin/63)
	recodeScaleMinK(hdr, x, L, s.nmax)
}

// subBlockWeights sets w[l] = sqrt(mean(x²)) + |x[l]|.
func subBlockWeights(w *[32]float32, x []float32) {
	var sumX2 float32
	for _, v := range x {
		sumX2 += float32(v * v)
	}
	avX := float32(math.Sqrt(float64(sumX2 / 32)))
	for l, v := range x {
		w[l] = avX + abs32(v)
	}
}

// inv63 is 63/v for positive v, else 0.
func inv63(v float32) float32 {
	if v > 0 {
		return 63 / v
	}
	return 0
}

// recodeScaleMinK re-codes the values of every sub-block whose stored
// scale is not zero against the stored scale and min.
func recodeScaleMinK(hdr []byte, x *[qkK]float32, L *[qkK]uint8, nmax int) {
	k := decodeScaleMinK(hdr)
	for j := range 8 {
		d, dm := k.d[j], k.m[j]
		if d == 0 {
			continue
		}
		for i, v := range x[32*j:][:32] {
			L[32*j+i] = uint8(clampInt(nearestInt((v+dm)/d), 0, nmax))
		}
	}
}

func dequantizeQ4K(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), q4KBytes)
	for i := range n {
		deqBlockQ4K((*[qkK]float32)(dst[qkK*i:]), (*[q4KBytes]byte)(src[q4KBytes*i:]))
	}
}

func dotQ4K(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), q4KBytes)
	var lut [16]float64
	var acc dotSums
	for i := range n {
		b := (*[q4KBytes]byte)(src[q4KBytes*i:])
		k := decodeScaleMinK(b[:16])
		for j := range 8 {
			d, m := k.d[j], k.m[j]
			for c := range lut {
				lut[c] = float64(float32(d*float32(c)) - m)
			}
			acc.addNibbleRun(&lut, b[16+32*(j/2):], uint8(4*(j%2)), x[qkK*i+32*j:])
		}
	}
	return acc.sum()
}

func quantizeQ4K(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), q4KBytes)
	for i := range n {
		quantBlockQ4K((*[q4KBytes]byte)(dst[q4KBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
