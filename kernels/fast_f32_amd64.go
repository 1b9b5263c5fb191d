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
