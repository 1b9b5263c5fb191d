package kernels

import "sync"

// Fast paths for F16 and Q4_0, in blockLanes (see fast_blocklanes.go; Q8_0
// rows are decoded to float32 and summed as F32 rows are, see parallel.go).
// F16 rows are converted exactly to float32 and summed in blockLanes. For
// Q4_0, a block's lanes sum products of the integer
// codes (as float32) with x and are then multiplied by the block's scale d
// in float32 before joining the float64 accumulators:
//
//	A_j += float64(d · s_j),  s_j = (c[j]·x[j] + c[j+8]·x[j+8]) + (…j+16… + …j+24…)
//
// so the scale is applied once per lane instead of once per value. The
// assembly kernels compute the same bits.

// quantRows holds the row kernels of the types with a fast path other than
// F32 and Q8_0 (the K-quants' are in fast_kquant.go). Q8_0's is the codec's
// Dot, which only the codec benchmark uses: MatMul sums Q8_0 in panelLanes.
var quantRows = map[DType]func(m *Matrix, y, x []float32, begin, end int){
	F16:  rowsF16,
	Q4_0: rowsQ4_0,
	Q4_K: rowsQ4K,
	Q6_K: rowsQ6K,
}

// f16Table maps every binary16 value to its float32 (FP16ToFP32), 256 KiB
// built on first use: one load per value is the cheapest conversion in Go.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for h := range t {
		t[h] = FP16ToFP32(uint16(h))
	}
	return t
})

// f16Lane is s_j of a block of binary16 values w against x, converted by t.
func f16Lane(t *[1 << 16]float32, w *[32]uint16, x *[32]float32, j int) float32 {
	return (float32(t[w[j]]*x[j]) + float32(t[w[j+8]]*x[j+8])) +
		(float32(t[w[j+16]]*x[j+16]) + float32(t[w[j+24]]*x[j+24]))
}

// dotF16Go is the blockLanes dot product of the binary16 row w with x.
func dotF16Go(w []uint16, x []float32) float32 {
	t := f16Table()
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	var pw [32]uint16
	var px [32]float32
	for len(w) > 0 {
		var b *[32]uint16
		var xs *[32]float32
		if len(w) >= 32 {
			b, xs = (*[32]uint16)(w), (*[32]float32)(x)
			w, x = w[32:], x[32:]
		} else { // the tail, zero-padded
			copy(pw[:], w)
			copy(px[:], x[:len(w)])
			b, xs, w = &pw, &px, nil
		}
		a0 += float64(f16Lane(t, b, xs, 0))
		a1 += float64(f16Lane(t, b, xs, 1))
		a2 += float64(f16Lane(t, b, xs, 2))
		a3 += float64(f16Lane(t, b, xs, 3))
		a4 += float64(f16Lane(t, b, xs, 4))
		a5 += float64(f16Lane(t, b, xs, 5))
		a6 += float64(f16Lane(t, b, xs, 6))
		a7 += float64(f16Lane(t, b, xs, 7))
	}
	l := blockLanes{a0, a1, a2, a3, a4, a5, a6, a7}
	return l.sum()
}

// q4Lane is s_j of a Q4_0 block's 16 code bytes against x: values j and
// j+8 are the low nibbles of bytes j and j+8, values j+16 and j+24 their
// high nibbles; codes are nibble − 8.
func q4Lane(qs *[16]byte, x *[32]float32, j int) float32 {
	a, b := qs[j], qs[j+8]
	return (float32(float32(int(a&0xf)-8)*x[j]) + float32(float32(int(b&0xf)-8)*x[j+8])) +
		(float32(float32(int(a>>4)-8)*x[j+16]) + float32(float32(int(b>>4)-8)*x[j+24]))
}

// dotQ4_0Go is the fast dot product of a Q4_0 row with x.
func dotQ4_0Go(src []byte, x []float32) float32 {
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	for len(src) >= q4_0Bytes && len(x) >= 32 {
		b, xs := (*[q4_0Bytes]byte)(src), (*[32]float32)(x)
		d, qs := getFP16(b[0:]), (*[16]byte)(b[2:])
		a0 += float64(float32(q4Lane(qs, xs, 0) * d))
		a1 += float64(float32(q4Lane(qs, xs, 1) * d))
		a2 += float64(float32(q4Lane(qs, xs, 2) * d))
		a3 += float64(float32(q4Lane(qs, xs, 3) * d))
		a4 += float64(float32(q4Lane(qs, xs, 4) * d))
		a5 += float64(float32(q4Lane(qs, xs, 5) * d))
		a6 += float64(float32(q4Lane(qs, xs, 6) * d))
		a7 += float64(float32(q4Lane(qs, xs, 7) * d))
		src, x = src[q4_0Bytes:], x[32:]
	}
	l := blockLanes{a0, a1, a2, a3, a4, a5, a6, a7}
	return l.sum()
}

// rowsF16 is an F16 matrix's row kernel.
func rowsF16(m *Matrix, y, x []float32, begin, end int) {
	n := m.Cols
	if useAsm && n%32 == 0 {
		dotRowsAsm(kindF16, y, m.Data[begin*m.RowBytes:end*m.RowBytes], m.RowBytes, x[:n])
		return
	}
	for r := begin; r < end; r++ {
		y[r-begin] = dotF16Go(m.u16[r*n:(r+1)*n], x)
	}
}

// rowsQ4_0 is a Q4_0 matrix's row kernel.
func rowsQ4_0(m *Matrix, y, x []float32, begin, end int) {
	if useAsm {
		dotRowsAsm(kindQ4_0, y, m.Data[begin*m.RowBytes:end*m.RowBytes], m.RowBytes, x[:m.Cols])
		return
	}
	for r := begin; r < end; r++ {
		y[r-begin] = dotQ4_0Go(m.Row(r), x[:m.Cols])
	}
}
