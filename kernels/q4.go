package kernels

// Q4_0 and Q4_1: 32 values per block, 4-bit codes; qs[j] holds value j in
// its low nibble and value j+16 in its high nibble.

const (
	q4_0Bytes = 18 // d fp16 | qs[16]
	q4_1Bytes = 20 // d fp16 | m fp16 | qs[16]
)

// deqBlockQ4_0 decodes y = float(nibble-8) * d.
func deqBlockQ4_0(dst *[32]float32, b *[q4_0Bytes]byte) {
	d := getFP16(b[0:])
	for j, q := range b[2:18] {
		dst[j] = float32(int(q&0xf)-8) * d
		dst[j+16] = float32(int(q>>4)-8) * d
	}
}

// quantBlockQ4_0 scales by the largest-magnitude value mapped to -8.
func quantBlockQ4_0(dst *[q4_0Bytes]byte, x *[32]float32) {
	max, _ := signedAbsMax(x[:])
	d := max / -8
	id := invOrZero(d)
	putFP16(dst[0:], d)
	for j := range 16 {
		lo := truncCode(float32(x[j]*id)+8.5, 15)
		hi := truncCode(float32(x[j+16]*id)+8.5, 15)
		dst[2+j] = lo | hi<<4
	}
}

// deqBlockQ4_1 decodes y = float(nibble)*d + m.
func deqBlockQ4_1(dst *[32]float32, b *[q4_1Bytes]byte) {
	d, m := getFP16(b[0:]), getFP16(b[2:])
	for j, q := range b[4:20] {
		dst[j] = float32(float32(q&0xf)*d) + m
		dst[j+16] = float32(float32(q>>4)*d) + m
	}
}

// quantBlockQ4_1 maps [min, max] onto the codes 0..15.
func quantBlockQ4_1(dst *[q4_1Bytes]byte, x *[32]float32) {
	lo, hi := minMax(x[:])
	d := (hi - lo) / 15
	id := invOrZero(d)
	putFP16(dst[0:], d)
	putFP16(dst[2:], lo)
	for j := range 16 {
		a := truncCode(float32((x[j]-lo)*id)+0.5, 15)
		b := truncCode(float32((x[j+16]-lo)*id)+0.5, 15)
		dst[4+j] = a | b<<4
	}
}

func dequantizeQ4_0(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), q4_0Bytes)
	for i := range n {
		deqBlockQ4_0((*[32]float32)(dst[32*i:]), (*[q4_0Bytes]byte)(src[q4_0Bytes*i:]))
	}
}

func dotQ4_0(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), q4_0Bytes)
	var lut [16]float64
	var acc dotSums
	for i := range n {
		b := src[q4_0Bytes*i:][:q4_0Bytes]
		d := getFP16(b)
		for k := range lut {
			lut[k] = float64(float32(k-8) * d)
		}
		acc.addNibblePairs(&lut, b[2:], x[32*i:])
	}
	return acc.sum()
}

func quantizeQ4_0(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), q4_0Bytes)
	for i := range n {
		quantBlockQ4_0((*[q4_0Bytes]byte)(dst[q4_0Bytes*i:]), (*[32]float32)(src[32*i:]))
	}
}

func dequantizeQ4_1(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), q4_1Bytes)
	for i := range n {
		deqBlockQ4_1((*[32]float32)(dst[32*i:]), (*[q4_1Bytes]byte)(src[q4_1Bytes*i:]))
	}
}

func dotQ4_1(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), q4_1Bytes)
	var lut [16]float64
	var acc dotSums
	for i := range n {
		b := src[q4_1Bytes*i:][:q4_1Bytes]
		d, m := getFP16(b[0:]), getFP16(b[2:])
		for k := range lut {
			lut[k] = float64(float32(float32(k)*d) + m)
		}
		acc.addNibblePairs(&lut, b[4:], x[32*i:])
	}
	return acc.sum()
}

func quantizeQ4_1(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), q4_1Bytes)
	for i := range n {
		quantBlockQ4_1((*[q4_1Bytes]byte)(dst[q4_1Bytes*i:]), (*[32]float32)(src[32*i:]))
	}
}
