package kernels

// Q3_K: 256 values in 16 sub-blocks of 16, 3-bit codes (two low bits
// packed as Q2_K, the high bit in hmask), signed 6-bit scales,
// y = (d*sc)*q with q in -4..3.

const q3KBytes = 110 // hmask[32] | qs[64] | scales[12] | d fp16

// q3KScales unpacks the 16 signed 6-bit scales.
func q3KScales(b *[12]byte) [16]int8 {
	var sc [16]int8
	for s := range 16 {
		low := b[s%8] >> (4 * (s / 8)) & 0xf
		high := b[8+s%4] >> (2 * (s / 4)) & 3
		sc[s] = int8(low|high<<4) - 32
	}
	return sc
}

// deqBlockQ3K decodes one super-block.
func deqBlockQ3K(dst *[qkK]float32, b *[q3KBytes]byte) {
	d := getFP16(b[108:])
	scales := q3KScales((*[12]byte)(b[96:108]))
	for s, sc := range scales {
		dl := d * float32(sc)
		off := 16 * (s % 2)
		q := b[32+32*(s/8)+off:][:16]
		hm := b[off:][:16]
		shift, bit := 2*(s%8/2), s/2
		out := dst[16*s:][:16]
		for l, v := range q {
			c := int(v>>shift&3) - 4 + 4*int(hm[l]>>bit&1)
			out[l] = dl * float32(c)
		}
	}
}

// quantBlockQ3K fits each sub-block, codes the scales in 6 signed bits
// against the largest-magnitude one, and re-codes the values with the
// stored scales.
func quantBlockQ3K(dst *[q3KBytes]byte, x *[qkK]float32) {
	var L [qkK]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = makeQ3Quants(4, x[16*j:][:16], L[16*j:][:16])
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}
	q3KPackScales(dst, &scales, maxScale)
	q3KRecode(dst, x, &L)
	hmask := dst[:32]
	clear(hmask)
	for j := range L {
		if L[j] > 3 {
			hmask[j%32] |= 1 << (j / 32)
			L[j] -= 4
		}
	}
	pack2Bit(dst[32:96], &L)
}

// q3KPackScales stores the 6-bit scales and their fp16 unit d.
func q3KPackScales(dst *[q3KBytes]byte, scales *[16]float32, maxScale float32) {
	b := (*[12]byte)(dst[96:108])
	clear(b[:])
	if maxScale == 0 {
		putFP16(dst[108:], 0)
		return
	}
	iscale := -32 / maxScale
	for j, s := range scales {
		l := int8(nearestInt(iscale * s))
		l = int8(clampInt(int(l), -32, 31) + 32)
		if j < 8 {
			b[j] = byte(l & 0xf)
		} else {
			b[j-8] |= byte(l&0xf) << 4
		}
		b[8+j%4] |= byte(l>>4) << (2 * (j / 4))
	}
	putFP16(dst[108:], 1/iscale)
}

// q3KRecode re-codes the values of every sub-block whose stored scale is
// not zero, as code+4 in 0..7.
func q3KRecode(dst *[q3KBytes]byte, x *[qkK]float32, L *[qkK]int8) {
	d0 := getFP16(dst[108:])
	for j, sc := range q3KScales((*[12]byte)(dst[96:108])) {
		d := d0 * float32(sc)
		if d == 0 {
			continue
		}
		for i, v := range x[16*j:][:16] {
			L[16*j+i] = int8(clampInt(nearestInt(v/d), -4, 3) + 4)
		}
	}
}

func dequantizeQ3K(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), q3KBytes)
	for i := range n {
		deqBlockQ3K((*[qkK]float32)(dst[qkK*i:]), (*[q3KBytes]byte)(src[q3KBytes*i:]))
	}
}

func dotQ3K(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), q3KBytes)
	var lut [8]float64
	var acc dotSums
	for i := range n {
		b := (*[q3KBytes]byte)(src[q3KBytes*i:])
		d := getFP16(b[108:])
		for s, sc := range q3KScales((*[12]byte)(b[96:108])) {
			dl := d * float32(sc)
			for k := range lut {
				lut[k] = float64(dl * float32(k-4))
			}
			off := 16 * (s % 2)
			q := b[32+32*(s/8)+off:]
			acc.addQ3Run(&lut, q, b[off:], uint8(2*(s%8/2)), uint8(s/2), x[qkK*i+16*s:])
		}
	}
	return acc.sum()
}

func quantizeQ3K(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), q3KBytes)
	for i := range n {
		quantBlockQ3K((*[q3KBytes]byte)(dst[q3KBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
