package kernels

// blockLanes is the arithmetic of the F16, Q4_0 and K-quant fast paths
// (F32 and Q8_0 use panelLanes, fast_f32.go):
//
// The row is cut into blocks of 32 values. In block b, lane j (0..7) sums
// four products in float32,
//
//	s_j = (w[j]·x[j] + w[j+8]·x[j+8]) + (w[j+16]·x[j+16] + w[j+24]·x[j+24]),
//
// every product and sum rounded to float32 (never fused), and adds it to a
// float64 accumulator A_j. The result is
//
//	float32(((A0+A4) + (A2+A6)) + ((A1+A5) + (A3+A7))).
//
// These are exactly the operations of eight-wide SIMD: the assembly
// kernels (fast_dot_amd64.s) give the same bits as the Go code.

// blockLanes holds the eight float64 lane accumulators.
type blockLanes struct{ a0, a1, a2, a3, a4, a5, a6, a7 float64 }

// sum returns the dot product rounded to float32.
func (l *blockLanes) sum() float32 {
	return float32(((l.a0 + l.a4) + (l.a2 + l.a6)) + ((l.a1 + l.a5) + (l.a3 + l.a7)))
}
