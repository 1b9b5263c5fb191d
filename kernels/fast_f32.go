package kernels

// The fast dot product of the forward pass for F32 rows, and for Q8_0
// rows through their exact float32 values (a Q8_0 weight is an 8-bit code
// times a binary16 scale: at most 19 significant bits, so float32 holds it
// exactly). The codecs' Dot accumulates in float64 for bit-exactness with
// ggml's test vectors; the forward pass uses panelLanes instead, which is
// several times faster and more accurate than a single float32 sum
// (llama2.c's):
//
// The row is cut into panels of 64 values, the last one padded with zeros.
// In panel b, lane j (0..15) sums four products in float32,
//
//	s_j = (w[j]·x[j] + w[j+16]·x[j+16]) + (w[j+32]·x[j+32] + w[j+48]·x[j+48]),
//
// and adds it to a float32 accumulator A_j (starting at +0): every product
// and every sum rounded to float32, never fused. The result is the fixed
// tree
//
//	t_j = A_j + A_{j+8} (j < 8), u_j = t_j + t_{j+4} (j < 4),
//	v_j = u_j + u_{j+2} (j < 2), result v_0 + v_1.
//
// These are exactly the operations of eight- or sixteen-wide SIMD: the
// assembly kernels (fast_f32_amd64.s) give the same bits as the Go code
// here, which is the reference for them and the path on every other
// architecture, so a stage gives the same activations on any worker. The
// order depends on nothing but the row and x: a vector dotted alone, in a
// batch of any size, or as one position of a prefill gets the same bits.

// panelWidth is how many values a panel holds.
const panelWidth = 64

// halfLanes holds eight of the sixteen lane accumulators.
type halfLanes struct{ a0, a1, a2, a3, a4, a5, a6, a7 float32 }

// panelLane is s_j of a panel. The conversions stop the compiler from
// fusing a product into an addition.
func panelLane(w, x *[panelWidth]float32, j int) float32 {
	return (float32(w[j]*x[j]) + float32(w[j+16]*x[j+16])) +
		(float32(w[j+32]*x[j+32]) + float32(w[j+48]*x[j+48]))
}

// add adds panel w·x to lanes o..o+7 (o is 0 or 8).
func (l *halfLanes) add(w, x *[panelWidth]float32, o int) {
	l.a0 += panelLane(w, x, o)
	l.a1 += panelLane(w, x, o+1)
	l.a2 += panelLane(w, x, o+2)
	l.a3 += panelLane(w, x, o+3)
	l.a4 += panelLane(w, x, o+4)
	l.a5 += panelLane(w, x, o+5)
	l.a6 += panelLane(w, x, o+6)
	l.a7 += panelLane(w, x, o+7)
}

// lanesOf returns lanes o..o+7 of w·x over whole panels and a zero-padded
// tail; len(x) >= len(w).
func lanesOf(w, x []float32, o int) halfLanes {
	var l halfLanes
	for len(w) >= panelWidth {
		l.add((*[panelWidth]float32)(w), (*[panelWidth]float32)(x), o)
		w, x = w[panelWidth:], x[panelWidth:]
	}
	if len(w) > 0 {
		var p, q [panelWidth]float32
		copy(p[:], w)
		copy(q[:], x[:len(w)])
		l.add(&p, &q, o)
	}
	return l
}

// reduceLanes is the fixed tree over the low lanes lo (0..7) and the high
// lanes hi (8..15).
func reduceLanes(lo, hi halfLanes) float32 {
	t0, t1, t2, t3 := lo.a0+hi.a0, lo.a1+hi.a1, lo.a2+hi.a2, lo.a3+hi.a3
	t4, t5, t6, t7 := lo.a4+hi.a4, lo.a5+hi.a5, lo.a6+hi.a6, lo.a7+hi.a7
	u0, u1, u2, u3 := t0+t4, t1+t5, t2+t6, t3+t7
	v0, v1 := u0+u2, u1+u3
	return v0 + v1
}

// dotF32Go is the panelLanes dot product of w and x (len(x) >= len(w)).
// The lanes are independent, so the low eight and the high eight are
// summed in two passes, each in registers.
func dotF32Go(w, x []float32) float32 {
	return reduceLanes(lanesOf(w, x, 0), lanesOf(w, x, 8))
}

// dotRowsF32Go writes y[r] = dotF32Go(row r of w, x) for len(y) rows of
// stride values each, row r starting at w[r*stride].
func dotRowsF32Go(y, w []float32, stride int, x []float32) {
	n := len(x)
	for r := range y {
		y[r] = dotF32Go(w[r*stride:r*stride+n], x)
	}
}
