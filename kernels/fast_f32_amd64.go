package kernels

import "unsafe"

//go:noescape
func dotRowsF32AVX2(y *float32, rows int, w *float32, stride int, x *float32, n int)

//go:noescape
func dotRowsF32x4AVX2(ys *[4]*float32, rows int, w *float32, stride int, xs *[4]*float32, n int, pf *byte, pfLen int)

//go:noescape
func decodeQ8_0AVX2(dst *float32, src *byte, blocks int)

//go:noescape
func dotRowsQ8_0AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)

// dotRowsF32 is dotRowsF32Go, in assembly where the CPU has AVX2.
func dotRowsF32(y, w []float32, stride int, x []float32) {
	if !useAsm || len(y) == 0 || len(x) == 0 {
		dotRowsF32Go(y, w, stride, x)
		return
	}
	// The last row must lie within w; the assembly reads len(x) values of
	// each row.
	_ = w[(len(y)-1)*stride+len(x)-1]
	dotRowsF32AVX2(unsafe.SliceData(y), len(y), unsafe.SliceData(w), stride, unsafe.SliceData(x), len(x))
}

// useBatchAsm selects the four-vector kernel; benchmarks and tests turn it
// off to compare.
var useBatchAsm = true

// dotRowsF32x4 writes ys[v*ystride+r] = row r of w · xs[v*c:(v+1)*c] for
// the len(w)/c rows of w (c values each, at most matmulTile rows) and the
// vectors of xs (n in all), four at a time, each weight group loaded once
// for four (every output the bits of its own dotRowsF32), prefetching next
// (the bytes of the rows that come after w) meanwhile, a share per four
// vectors. Two or three vectors left over run as four, the last one
// repeated into a scratch output; one is left to the caller. It returns
// how many vectors it did: 0 without AVX2 or for rows that are not whole
// panels.
func dotRowsF32x4(ys []float32, ystride int, w []float32, c int, xs []float32, n int, next []byte) int {
	rows := len(w) / max(c, 1)
	if !useAsm || !useBatchAsm || c%panelWidth != 0 || c == 0 || n < 2 || rows == 0 || rows > matmulTile {
		return 0
	}
	done := n
	if n%4 == 1 {
		done--
	}
	groups := (done + 3) / 4
	share := (len(next) + groups - 1) / groups
	var scratch [matmulTile]float32
	for g := 0; g < done; g += 4 {
		var xp, yp [4]*float32
		for v := range 4 {
			i := g + v
			if i >= done {
				xp[v], yp[v] = xp[v-1], &scratch[0]
				continue
			}
			_, _ = xs[(i+1)*c-1], ys[i*ystride+rows-1]
			xp[v], yp[v] = &xs[i*c], &ys[i*ystride]
		}
		pf := next[:min(share, len(next))]
		next = next[len(pf):]
		dotRowsF32x4AVX2(&yp, rows, unsafe.SliceData(w), c, &xp, c, unsafe.SliceData(pf), len(pf))
	}
	return done
}

// decodeQ8_0Rows writes the exact float32 values of Q8_0 data src (whole
// blocks) into dst.
func decodeQ8_0Rows(dst []float32, src []byte) {
	blocks := len(src) / q8_0Bytes
	if !useAsm || blocks == 0 {
		dequantizeQ8_0(dst[:32*blocks], src)
		return
	}
	_ = dst[32*blocks-1]
	decodeQ8_0AVX2(unsafe.SliceData(dst), unsafe.SliceData(src), blocks)
}

// dotRowsQ8_0 writes y[r] = the panelLanes dot of row begin+r of the Q8_0
// matrix m with x, for the rows [begin, end): in assembly, the bits of
// decoding the rows and dotting them with dotRowsF32, without a store;
// false without AVX2.
func dotRowsQ8_0(m *Matrix, y, x []float32, begin, end int) bool {
	if !useAsm || end <= begin || m.Cols == 0 {
		return false
	}
	w := m.Data[begin*m.RowBytes : end*m.RowBytes]
	_, _ = y[end-begin-1], x[m.Cols-1]
	dotRowsQ8_0AVX2(unsafe.SliceData(y), end-begin, unsafe.SliceData(w), m.RowBytes, unsafe.SliceData(x), m.Cols/32)
	return true
}
