package kernels

import "encoding/binary"

// Q5_0 and Q5_1: 32 values per block, 5-bit codes. The low four bits are
// packed as in Q4_0; bit i of the little-endian u32 qh is bit 4 of value i.

const (
	q5_0Bytes = 22 // d fp16 | qh u32 | qs[16]
	q5_1Bytes = 24 // d fp16 | m fp16 | qh u32 | qs[16]
)

// q5Codes returns the 5-bit codes of values j and j+16 of a block.
func q5Codes(qs byte, qh uint32, j int) (lo, hi int) {
	lo = int(qs&0xf) | int(qh>>j&1)<<4
	hi = int(qs>>4) | int(qh>>(j+16)&1)<<4
	return lo, hi
}

// packQ5 stores the codes of values j and j+16: the nibble byte, and their
// fifth bits OR-ed into qh.
func packQ5(qh *uint32, lo, hi uint8, j int) byte {
	*qh |= uint32(lo>>4&1)<<j | uint32(hi>>4&1)<<(j+16)
	return lo&0xf | (hi&0xf)<<4
}

// deqBlockQ5_0 decodes y = float(q-16) * d.
func deqBlockQ5_0(dst *[32]float32, b *[q5_0Bytes]byte) {
	d := getFP16(b[0:])
	qh := binary.LittleEndian.Uint32(b[2:])
	for j, q := range b[6:22] {
		lo, hi := q5Codes(q, qh, j)
		dst[j] = float32(lo-16) * d
		dst[j+16] = float32(hi-16) * d
	}
}

// quantBlockQ5_0 scales by the largest-magnitude value mapped to -16.
func quantBlockQ5_0(dst *[q5_0Bytes]byte, x *[32]float32) {
	max, _ := signedAbsMax(x[:])
	d := max / -16
	id := invOrZero(d)
	putFP16(dst[0:], d)
	var qh uint32
	for j := range 16 {
		lo := truncCode(float32(x[j]*id)+16.5, 31)
		hi := truncCode(float32(x[j+16]*id)+16.5, 31)
		dst[6+j] = packQ5(&qh, lo, hi, j)
	}
	binary.LittleEndian.PutUint32(dst[2:], qh)
}

// deqBlockQ5_1 decodes y = float(q)*d + m.
func deqBlockQ5_1(dst *[32]float32, b *[q5_1Bytes]byte) {
	d, m := getFP16(b[0:]), getFP16(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	for j, q := range b[8:24] {
		lo, hi := q5Codes(q, qh, j)
		dst[j] = float32(float32(lo)*d) + m
		dst[j+16] = float32(float32(hi)*d) + m
	}
}

// quantBlockQ5_1 maps [min, max] onto the codes 0..31 (unclamped, as ggml).
func quantBlockQ5_1(dst *[q5_1Bytes]byte, x *[32]float32) {
	lo, hi := minMax(x[:])
	d := (hi - lo) / 31
	id := invOrZero(d)
	putFP16(dst[0:], d)
	putFP16(dst[2:], lo)
	var qh uint32
	for j := range 16 {
		a := uint8(truncInt(float32((x[j]-lo)*id) + 0.5))
		b := uint8(truncInt(float32((x[j+16]-lo)*id) + 0.5))
		dst[8+j] = packQ5(&qh, a, b, j)
	}
	binary.LittleEndian.PutUint32(dst[4:], qh)
}

func dequantizeQ5_0(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), q5_0Bytes)
	for i := range n {
		deqBlockQ5_0((*[32]float32)(dst[32*i:]), (*[q5_0Bytes]byte)(src[q5_0Bytes*i:]))
	}
}

func dotQ5_0(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), q5_0Bytes)
	var lut [32]float64
	var acc dotSums
	for i := range n {
		b := src[q5_0Bytes*i:][:q5_0Bytes]
		d := getFP16(b)
		for k := range lut {
			lut[k] = float64(float32(k-16) * d)
		}
		acc.addQ5Pairs(&lut, b[6:], binary.LittleEndian.Uint32(b[2:]), x[32*i:])
	}
	return acc.sum()
}

func quantizeQ5_0(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), q5_0Bytes)
	for i := range n {
		quantBlockQ5_0((*[q5_0Bytes]byte)(dst[q5_0Bytes*i:]), (*[32]float32)(src[32*i:]))
	}
}

func dequantizeQ5_1(dst []float32, src []byte) {
	n := blockCount(len(dst), 32, len(src), q5_1Bytes)
	for i := range n {
		deqBlockQ5_1((*[32]float32)(dst[32*i:]), (*[q5_1Bytes]byte)(src[q5_1Bytes*i:]))
	}
}

func dotQ5_1(src []byte, x []float32) float32 {
	n := blockCount(len(x), 32, len(src), q5_1Bytes)
	var lut [32]float64
	var acc dotSums
	for i := range n {
		b := src[q5_1Bytes*i:][:q5_1Bytes]
		d, m := getFP16(b[0:]), getFP16(b[2:])
		for k := range lut {
			lut[k] = float64(float32(float32(k)*d) + m)
		}
		acc.addQ5Pairs(&lut, b[8:], binary.LittleEndian.Uint32(b[4:]), x[32*i:])
	}
	return acc.sum()
}

func quantizeQ5_1(dst []byte, src []float32) {
	n := blockCount(len(src), 32, len(dst), q5_1Bytes)
	for i := range n {
		quantBlockQ5_1((*[q5_1Bytes]byte)(dst[q5_1Bytes*i:]), (*[32]float32)(src[32*i:]))
	}
}
