package kernels

// The fast dot product of the forward pass. The codecs' Dot accumulates in
// float64 for bit-exactness with ggml's test vectors; the forward pass
// instead uses blockLanes, which is several times faster and still more
// accurate than a single float32 sum (llama2.c's):
//
// The row is cut into blocks of 32 values, the last one padded with zeros.
// In block b, lane j (0..7) sums four products in float32,
//
//	s_j = (w[j]·x[j] + w[j+8]·x[j+8]) + (w[j+16]·x[j+16] + w[j+24]·x[j+24]),
//
// every product and sum rounded to float32 (never fused), and adds it to a
// float64 accumulator A_j. The result is
//
//	float32(((A0+A4) + (A2+A6)) + ((A1+A5) + (A3+A7))).
//
// These are exactly the operations of eight-wide SIMD: the assembly
// kernels (fast_*_amd64.s) give the same bits as the Go code here, which
// is the reference for them and the path on every other architecture, so
// a stage gives the same activations on any worker.

// blockLanes holds the eight float64 lane accumulators.
type blockLanes struct{ a0, a1, a2, a3, a4, a5, a6, a7 float64 }

// sum returns the dot product rounded to float32.
func (l *blockLanes) sum() float32 {
	return float32(((l.a0 + l.a4) + (l.a2 + l.a6)) + ((l.a1 + l.a5) + (l.a3 + l.a7)))
}

// lane is s_j of a block: four products summed pairwise in float32. The
// conversions stop the compiler from fusing a product into an addition.
func lane(w, x *[32]float32, j int) float32 {
	return (float32(w[j]*x[j]) + float32(w[j+8]*x[j+8])) +
		(float32(w[j+16]*x[j+16]) + float32(w[j+24]*x[j+24]))
}

// addBlocks adds the whole 32-value blocks of w·x; len(x) >= len(w).
func (l *blockLanes) addBlocks(w, x []float32) {
	a0, a1, a2, a3, a4, a5, a6, a7 := l.a0, l.a1, l.a2, l.a3, l.a4, l.a5, l.a6, l.a7
	for len(w) >= 32 && len(x) >= 32 {
		p, q := (*[32]float32)(w), (*[32]float32)(x)
		a0 += float64(lane(p, q, 0))
		a1 += float64(lane(p, q, 1))
		a2 += float64(lane(p, q, 2))
		a3 += float64(lane(p, q, 3))
		a4 += float64(lane(p, q, 4))
		a5 += float64(lane(p, q, 5))
		a6 += float64(lane(p, q, 6))
		a7 += float64(lane(p, q, 7))
		w, x = w[32:], x[32:]
	}
	l.a0, l.a1, l.a2, l.a3, l.a4, l.a5, l.a6, l.a7 = a0, a1, a2, a3, a4, a5, a6, a7
}

// addTail adds the last len(w) < 32 values as a zero-padded block.
func (l *blockLanes) addTail(w, x []float32) {
	if len(w) == 0 {
		return
	}
	var p, q [32]float32
	copy(p[:], w)
	copy(q[:], x[:len(w)])
	l.addBlocks(p[:], q[:])
}

// dotF32Go is the blockLanes dot product of w and x (len(x) >= len(w)).
func dotF32Go(w, x []float32) float32 {
	var l blockLanes
	n := len(w) &^ 31
	l.addBlocks(w[:n], x[:n])
	l.addTail(w[n:], x[n:])
	return l.sum()
}

// dotRowsF32Go writes y[r] = dotF32Go(row r of w, x) for len(y) rows of
// stride values each, row r starting at w[r*stride].
func dotRowsF32Go(y, w []float32, stride int, x []float32) {
	n := len(x)
	for r := range y {
		y[r] = dotF32Go(w[r*stride:r*stride+n], x)
	}
}
