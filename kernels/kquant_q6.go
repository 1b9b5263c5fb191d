package kernels

// Q6_K: 256 values in 16 sub-blocks of 16, 6-bit codes (low nibbles in ql,
// high pairs in qh), signed 8-bit scales, y = (d*sc)*q with q in -32..31.

const q6KBytes = 210 // ql[128] | qh[64] | scales[16] int8 | d fp16

// q6KCode returns the 6-bit code (0..63) of value e of a super-block.
func q6KCode(ql, qh []byte, e int) int {
	h, k, l := e/128, e%128/32, e%32
	low := ql[64*h+l+32*(k%2)] >> (4 * (k / 2)) & 0xf
	high := qh[32*h+l] >> (2 * k) & 3
	return int(low | high<<4)
}

// deqBlockQ6K decodes one super-block.
func deqBlockQ6K(dst *[qkK]float32, b *[q6KBytes]byte) {
	d := getFP16(b[208:])
	ql, qh := b[0:128], b[128:192]
	for s, sc := range b[192:208] {
		dl := d * float32(int8(sc))
		out := dst[16*s:][:16]
		for l := range out {
			out[l] = dl * float32(q6KCode(ql, qh, 16*s+l)-32)
		}
	}
}

// quantBlockQ6K fits each sub-block symmetrically, codes the scales in 8
// signed bits against the largest-magnitude one, and re-codes the values
// with the stored scales. An all-zero super-block is stored as zero bytes.
func quantBlockQ6K(dst *[q6KBytes]byte, x *[qkK]float32) {
	var L [qkK]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for j := range 16 {
		scales[j] = makeQXQuants(32, x[16*j:][:16], L[16*j:][:16])
		if a := abs32(scales[j]); a > maxAbs {
			maxAbs, maxScale = a, scales[j]
		}
	}
	if maxAbs < groupMaxEps {
		clear(dst[:])
		return
	}
	iscale := -128 / maxScale
	putFP16(dst[208:], 1/iscale)
	for j, s := range scales {
		dst[192+j] = byte(int8(min(127, nearestInt(iscale*s))))
	}
	q6KRecode(dst, x, &L)
	q6KPack(dst, &L)
}

// q6KRecode re-codes the values of every sub-block whose stored scale is
// not zero, as code+32 in 0..63.
func q6KRecode(dst *[q6KBytes]byte, x *[qkK]float32, L *[qkK]int8) {
	d0 := getFP16(dst[208:])
	for j, sc := range dst[192:208] {
		d := d0 * float32(int8(sc))
		if d == 0 {
			continue
		}
		for i, v := range x[16*j:][:16] {
			L[16*j+i] = int8(clampInt(nearestInt(v/d), -32, 31) + 32)
		}
	}
}

// q6KPack stores the 6-bit codes L in ql and qh.
func q6KPack(dst *[q6KBytes]byte, L *[qkK]int8) {
	ql, qh := dst[0:128], dst[128:192]
	clear(ql)
	clear(qh)
	for e, c := range L {
		h, k, l := e/128, e%128/32, e%32
		ql[64*h+l+32*(k%2)] |= byte(c&0xf) << (4 * (k / 2))
		qh[32*h+l] |= byte(c>>4&3) << (2 * k)
	}
}

func dequantizeQ6K(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), q6KBytes)
	for i := range n {
		deqBlockQ6K((*[qkK]float32)(dst[qkK*i:]), (*[q6KBytes]byte)(src[q6KBytes*i:]))
	}
}

func dotQ6K(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), q6KBytes)
	var acc dotSums
	for i := range n {
		b := (*[q6KBytes]byte)(src[q6KBytes*i:])
		d := getFP16(b[208:])
		for s, sc := range b[192:208] {
			dl := float64(d * float32(int8(sc)))
			h, k, l := s/8, s%8/2, 16*(s%2)
			ql := b[64*h+32*(k%2)+l:]
			qh := b[128+32*h+l:]
			acc.addQ6Run(dl, ql, qh, uint8(4*(k/2)), uint8(2*k), x[qkK*i+16*s:])
		}
	}
	return acc.sum()
}

func quantizeQ6K(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), q6KBytes)
	for i := range n {
		quantBlockQ6K((*[q6KBytes]byte)(dst[q6KBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
