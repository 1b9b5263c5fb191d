package kernels

import (
	"math"
)

// The float32 operations of a Llama-family forward pass. Each follows the
// order of operations of llama2.c's run.c, except that long sums (Softmax's
// here, the matmuls' and attention's in fast_*.go) run in eight lanes as
// SIMD does, so that a model run through them reproduces run.c's logits to
// float32 rounding. A product that feeds a sum is converted to float32
// explicitly, which stops the compiler from fusing the two (as it may on
// arm64): the results are the same on every architecture, and the assembly
// versions (amd64) give the bits of the Go ones.

// RMSNorm writes x normalised by its root mean square, scaled by w:
// out[i] = w[i] * (x[i] / sqrt(mean(x²) + eps)).
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += float32(v * v)
	}
	ss /= float32(len(x))
	ss += eps
	ss = 1 / float32(math.Sqrt(float64(ss)))
	for i, v := range x {
		out[i] = w[i] * (ss * v)
	}
}

// Softmax replaces x by its softmax, max-subtracted for stability: the
// exponentials are summed in eight float32 lanes (lane j taking elements
// j, j+8, …) joined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the order
// of eight-wide SIMD, and each divided by the sum.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	softmax(x)
}

// softmaxGo is Softmax in Go, the reference of the assembly.
func softmaxGo(x []float32) {
	maxv := x[0]
	for _, v := range x[1:] {
		if v > maxv {
			maxv = v
		}
	}
	var l [8]float32
	for i, v := range x {
		e := Exp32(v - maxv)
		x[i] = e
		l[i%8] += e
	}
	sum := ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
	for i := range x {
		x[i] /= sum
	}
}

// Exp32 is e^x rounded to float32. It is computed in float64 with a
// relative error below 1e-14 before the rounding, so it rounds to the
// float32 nearest e^x except where e^x lies that close to a rounding
// boundary: over all float32 arguments with a finite, non-zero result it
// differs from float32(math.Exp(x)) for a few dozen in 2·10⁹, by 1 ulp
// (TestExp32). It costs a fraction of math.Exp, and every operation rounds
// to float64 explicitly, so the result is the same on every architecture.
func Exp32(x float32) float32 {
	if !(x > -150) { // underflows to zero; NaN stays NaN
		if x != x {
			return x
		}
		return 0
	}
	if x > 100 {
		return float32(math.Inf(1))
	}
	// e^x = 2^(k/32) · e^r with k = round(32x/ln 2), |r| <= ln2/64; ln2/32
	// is split so that k·ln2by32Hi is exact.
	const (
		invLn2by32 = 46.16624130844683
		ln2by32Hi  = 0.021660849392446835
		ln2by32Lo  = 5.145609244655338e-14
		shift      = 0x1.8p52 // adding it rounds to an integer
	)
	kf := float64(float64(float64(x)*invLn2by32)+shift) - shift
	r := float64(float64(x)-float64(kf*ln2by32Hi)) - float64(kf*ln2by32Lo)
	// e^r to r⁵ (Estrin's scheme): the first omitted term is below 3e-15.
	r2 := float64(r * r)
	lo := float64(1 + r)
	mid := float64(0.5 + float64(r*(1.0/6)))
	hi := float64(1.0/24 + float64(r*(1.0/120)))
	p := float64(lo + float64(r2*float64(mid+float64(r2*hi))))
	k := int64(kf)
	scale := math.Float64frombits(math.Float64bits(exp2by32[k&31]) + uint64(k>>5)<<52)
	return float32(p * scale)
}

// exp2by32[j] is 2^(j/32) rounded to float64.
var exp2by32 = [32]float64{
	1.0, 1.0218971486541166, 1.0442737824274138, 1.0671404006768237,
	1.0905077326652577, 1.1143867425958924, 1.1387886347566916, 1.1637248587775775,
	1.189207115002721, 1.215247359980469, 1.241857812073484, 1.2690509571917332,
	1.2968395546510096, 1.3252366431597413, 1.3542555469368927, 1.383909881963832,
	1.4142135623730951, 1.4451808069770467, 1.4768261459394993, 1.5091644275934228,
	1.5422108254079407, 1.5759808451078865, 1.6104903319492543, 1.645755478153965,
	1.681792830507429, 1.718619298122478, 1.7562521603732995, 1.7947090750031072,
	1.8340080864093424, 1.8741676341103, 1.9152065613971474, 1.9571441241754002,
}

// SwiGLU writes silu(gate[i]) * up[i] into gate.
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	swiglu(gate, up)
}

// swigluGo is SwiGLU in Go, the reference of the assembly.
func swigluGo(gate, up []float32) {
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
	b = b[:len(a)]
	for i, v := range a {
		s += float32(v * b[i])
	}
	return s
}

// AXPY adds a*x to y.
func AXPY(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += float32(a * v)
	}
}
