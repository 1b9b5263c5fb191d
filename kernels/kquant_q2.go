package kernels

// Q2_K: 256 values in 16 sub-blocks of 16, 2-bit codes, a 4-bit scale and
// 4-bit min per sub-block, y = (d*sc)*q - dmin*mn.

const q2KBytes = 84 // scales[16] | qs[64] | d fp16 | dmin fp16

// q2KSearch is the affine fit Q2_K uses per sub-block.
var q2KSearch = affineSearch{nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, absoluteError: true}

// deqBlockQ2K decodes one super-block.
func deqBlockQ2K(dst *[qkK]float32, b *[q2KBytes]byte) {
	d, dmin := getFP16(b[80:]), getFP16(b[82:])
	for s, sc := range b[:16] {
		dl, ml := d*float32(sc&0xf), float32(dmin*float32(sc>>4))
		q := b[16+32*(s/8)+16*(s%2):][:16]
		shift := 2 * (s % 8 / 2)
		out := dst[16*s:][:16]
		for l, v := range q {
			out[l] = float32(dl*float32(v>>shift&3)) - ml
		}
	}
}

// quantBlockQ2K fits each sub-block, codes the 16 scales and mins in 4 bits
// against their maxima, and re-codes every value with the stored scales.
func quantBlockQ2K(dst *[q2KBytes]byte, x *[qkK]float32) {
	var L [qkK]uint8
	var laux [16]uint8
	var weights, scales, mins [16]float32
	var maxScale, maxMin float32
	for j := range 16 {
		xs := x[16*j:][:16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(&q2KSearch, xs, weights[:], L[16*j:][:16], laux[:])
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	q2KPackScales(dst, &scales, &mins, maxScale, maxMin)
	q2KRecode(dst, x, &L)
	pack2Bit(dst[16:80], &L)
}

// q2KPackScales stores the 4-bit scales and mins and their fp16 units.
func q2KPackScales(dst *[q2KBytes]byte, scales, mins *[16]float32, maxScale, maxMin float32) {
	sc := dst[:16]
	clear(sc)
	putFP16(dst[80:], 0)
	putFP16(dst[82:], 0)
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		putFP16(dst[80:], maxScale/15)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		putFP16(dst[82:], maxMin/15)
	}
}

// q2KRecode re-codes the values of every sub-block whose stored scale is
// not zero against the stored (rounded) scale and min.
func q2KRecode(dst *[q2KBytes]byte, x *[qkK]float32, L *[qkK]uint8) {
	d0, m0 := getFP16(dst[80:]), getFP16(dst[82:])
	for j, sc := range dst[:16] {
		d := d0 * float32(sc&0xf)
		if d == 0 {
			continue
		}
		dm := float32(m0 * float32(sc>>4))
		for i, v := range x[16*j:][:16] {
			L[16*j+i] = uint8(clampInt(nearestInt((v+dm)/d), 0, 3))
		}
	}
}

func dequantizeQ2K(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), q2KBytes)
	for i := range n {
		deqBlockQ2K((*[qkK]float32)(dst[qkK*i:]), (*[q2KBytes]byte)(src[q2KBytes*i:]))
	}
}

func dotQ2K(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), q2KBytes)
	var lut [4]float64
	var acc dotSums
	for i := range n {
		b := (*[q2KBytes]byte)(src[q2KBytes*i:])
		d, dmin := getFP16(b[80:]), getFP16(b[82:])
		for s, sc := range b[:16] {
			dl, ml := d*float32(sc&0xf), float32(dmin*float32(sc>>4))
			for k := range lut {
				lut[k] = float64(float32(dl*float32(k)) - ml)
			}
			q := b[16+32*(s/8)+16*(s%2):]
			acc.addCrumbs(&lut, q, uint8(2*(s%8/2)), x[qkK*i+16*s:])
		}
	}
	return acc.sum()
}

func quantizeQ2K(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), q2KBytes)
	for i := range n {
		quantBlockQ2K((*[q2KBytes]byte)(dst[q2KBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
