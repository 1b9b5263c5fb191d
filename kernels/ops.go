package kernels

import (
	"math"
)

// The float32 operations of a Llama-family forward pass. Each follows the
// order of operations of llama2.c's run.c, so that a model run through them
// reproduces run.c's logits to float32 rounding.

// RMSNorm writes x normalised by its root mean square, scaled by w:
// out[i] = w[i] * (x[i] / sqrt(mean(x²) + eps)).
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	ss /= float32(len(x))
	ss += eps
	ss = 1 / float32(math.Sqrt(float64(ss)))
	for i, v := range x {
		out[i] = w[i] * (ss * v)
	}
}

// Softmax replaces x by its softmax, max-subtracted for stability.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	maxv := x[0]
	for _, v := range x[1:] {
		if v > maxv {
			maxv = v
		}
	}
	var sum float32
	for i, v := range x {
		e := Exp32(v - maxv)
		x[i] = e
		sum += e
	}
	for i := range x {
		x[i] /= sum
	}
}

// Exp32 is e^x rounded to float32.
func Exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

// SwiGLU writes silu(gate[i]) * up[i] into gate.
func SwiGLU(gate, up []float32) {
	for i, g := range gate {
		s := g * (1 / (1 + Exp32(-g)))
		gate[i] = s * up[i]
	}
}

// Add adds src to dst element by element.
func Add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// Argmax returns the index of the largest value, the lowest index on ties.
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Dot32 is the dot product of two float32 vectors, accumulated in float32
// in index order.
func Dot32(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// AXPY adds a*x to y.
func AXPY(a float32, x, y []float32) {
	for i, v := range x {
		y[i] += a * v
	}
}
