package kernels

import "unsafe"

//go:noescape
func dotRowsF32AVX2(y *float32, rows int, w *float32, stride int, x *float32, n int)

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

// useBatchAsm selects the four-vector kernel; benchmarks turn it off to
// compare.
var useBatchAsm = true

//go:noescape
func dotRowsF32x4AVX2(y *float32, rows int, w *float32, stride int, x *float32, n int, ystride int)

// dotRowsF32x4 computes the outputs of rows [begin, end) of F32 matrix m
// for the first vectors of xs, four at a time, each weight block loaded
// once for four (every output the bits of its own dotRowsF32), and
// returns how many vectors it did: a multiple of four, 0 without AVX2 or
// for rows that are not whole 32-value blocks.
func dotRowsF32x4(m *Matrix, ys, xs []float32, n, begin, end int) int {
	if !useAsm || !useBatchAsm || m.f32 == nil || m.Cols%32 != 0 || n < 4 || end <= begin {
		return 0
	}
	c, rows := m.Cols, m.Rows
	_ = m.f32[(end-1)*c+c-1]
	done := 0
	for ; done+4 <= n; done += 4 {
		_ = xs[(done+4)*c-1]
		_ = ys[(done+3)*rows+end-1]
		dotRowsF32x4AVX2(&ys[done*rows+begin], end-begin, &m.f32[begin*c], c, &xs[done*c], c, rows)
	}
	return done
}
