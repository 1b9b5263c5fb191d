package kernels

// Q5_K: Q4_K with a fifth bit per value: bit j of qh[l] is bit 4 of value
// 32*j + l, so codes run 0..31.

const q5KBytes = 176 // d fp16 | dmin fp16 | scales[12] | qh[32] | qs[128]

// deqBlockQ5K decodes one super-block.
func deqBlockQ5K(dst *[qkK]float32, b *[q5KBytes]byte) {
	k := decodeScaleMinK(b[:16])
	qh := b[16:48]
	for j := range 8 {
		q := b[48+32*(j/2):][:32]
		shift := 4 * (j % 2)
		d, m := k.d[j], k.m[j]
		out := dst[32*j:][:32]
		for l, v := range q {
			c := v>>shift&0xf | (qh[l]>>j&1)<<4
			out[l] = float32(d*float32(c)) - m
		}
	}
}

// quantBlockQ5K fits the super-block as Q4_K does with 5-bit codes.
func quantBlockQ5K(dst *[q5KBytes]byte, x *[qkK]float32) {
	var L [qkK]uint8
	fitScaleMinK(dst[:16], x, &L, &q5KSearch)
	qh := dst[16:48]
	clear(qh)
	for j := 0; j < qkK; j += 64 {
		q := dst[48+j/2:][:32]
		for l := range q {
			lo, hi := L[j+l], L[j+l+32]
			qh[l] |= (lo>>4)<<(j/32) | (hi>>4)<<(j/32+1)
			q[l] = lo&0xf | (hi&0xf)<<4
		}
	}
}

func dequantizeQ5K(dst []float32, src []byte) {
	n := blockCount(len(dst), qkK, len(src), q5KBytes)
	for i := range n {
		deqBlockQ5K((*[qkK]float32)(dst[qkK*i:]), (*[q5KBytes]byte)(src[q5KBytes*i:]))
	}
}

func dotQ5K(src []byte, x []float32) float32 {
	n := blockCount(len(x), qkK, len(src), q5KBytes)
	var lut [32]float64
	var acc dotSums
	for i := range n {
		b := (*[q5KBytes]byte)(src[q5KBytes*i:])
		k := decodeScaleMinK(b[:16])
		for j := range 8 {
			d, m := k.d[j], k.m[j]
			for c := range lut {
				lut[c] = float64(float32(d*float32(c)) - m)
			}
			acc.addQ5Run(&lut, b[48+32*(j/2):], b[16:48], uint8(4*(j%2)), uint8(j), x[qkK*i+32*j:])
		}
	}
	return acc.sum()
}

func quantizeQ5K(dst []byte, src []float32) {
	n := blockCount(len(src), qkK, len(dst), q5KBytes)
	for i := range n {
		quantBlockQ5K((*[q5KBytes]byte)(dst[q5KBytes*i:]), (*[qkK]float32)(src[qkK*i:]))
	}
}
