//go:build !amd64

package kernels

// dotRowsF32 is dotRowsF32Go: there is no assembly for this architecture.
func dotRowsF32(y, w []float32, stride int, x []float32) { dotRowsF32Go(y, w, stride, x) }

// dotRowsF32x4 does nothing here: MatMul dots one vector at a time.
func dotRowsF32x4(*Matrix, []float32, []float32, int, int, int) int { return 0 }
