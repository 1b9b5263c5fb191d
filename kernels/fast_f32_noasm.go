//go:build !amd64

package kernels

// dotRowsF32 is dotRowsF32Go: there is no assembly for this architecture.
func dotRowsF32(y, w []float32, stride int, x []float32) { dotRowsF32Go(y, w, stride, x) }

// dotRowsF32x4 does nothing here: MatMul dots one vector at a time.
func dotRowsF32x4([]float32, int, []float32, int, []float32, int, []byte) int { return 0 }

// decodeQ8_0Rows writes the exact float32 values of Q8_0 data src (whole
// blocks) into dst.
func decodeQ8_0Rows(dst []float32, src []byte) {
	dequantizeQ8_0(dst[:32*(len(src)/q8_0Bytes)], src)
}

// dotRowsQ8_0 reports false: MatMul decodes the rows and dots them.
func dotRowsQ8_0(*Matrix, []float32, []float32, int, int) bool { return false }
