package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExp32 compares Exp32 with math.Exp rounded to float32 over every
// float32 in [-104, 89] (where the result is neither 0 nor +Inf) taken at
// a stride, and at the edges: at most 1 ulp apart, and rarely at all.
func TestExp32(t *testing.T) {
	lo, hi := math.Float32bits(104), math.Float32bits(89)
	stride := uint32(97)
	if testing.Short() {
		stride = 9973
	}
	checked, off := 0, 0
	check := func(x float32) {
		want := float32(math.Exp(float64(x)))
		got := Exp32(x)
		checked++
		if got == want {
			return
		}
		d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
		if d < -1 || d > 1 || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Fatalf("Exp32(%v) = %v, want %v", x, got, want)
		}
		off++
	}
	for b := uint32(0); b < lo; b += stride { // negative values down to -104
		check(math.Float32frombits(b | 1<<31))
	}
	for b := uint32(0); b < hi; b += stride {
		check(math.Float32frombits(b))
	}
	for _, x := range []float32{-150, -149, -104, -103.9, -103.28, -87.3, 0, 88.72, 88.73, 89, 100} {
		check(x)
	}
	if off*20000 > checked {
		t.Errorf("%d of %d values 1 ulp off", off, checked)
	}
	t.Logf("%d of %d values 1 ulp from math.Exp's", off, checked)
	inf := float32(math.Inf(1))
	for x, want := range map[float32]float32{inf: inf, -inf: 0, -1e30: 0, 1e30: inf, 150: inf, -200: 0} {
		if got := Exp32(x); got != want {
			t.Errorf("Exp32(%v) = %v, want %v", x, got, want)
		}
	}
	if nan := float32(math.NaN()); Exp32(nan) == Exp32(nan) {
		t.Error("Exp32(NaN) is not NaN")
	}
}

// TestSoftmaxAsmMatchesGo checks Softmax's assembly against softmaxGo bit
// for bit, for every length to 300 and spreads wide enough to underflow.
func TestSoftmaxAsmMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for n := 1; n <= 300; n++ {
		for _, spread := range []float64{1, 30, 400} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * spread)
			}
			want := append([]float32(nil), x...)
			softmaxGo(want)
			got := append([]float32(nil), x...)
			Softmax(got)
			var sum float64
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d spread %v: element %d %v, Go %v", n, spread, i, got[i], want[i])
				}
				sum += float64(got[i])
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("n=%d: softmax sums to %v", n, sum)
			}
		}
	}
}

// TestSwiGLUAsmMatchesGo checks SwiGLU's assembly against swigluGo bit for
// bit, including gates large enough to saturate.
func TestSwiGLUAsmMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for n := 1; n <= 100; n++ {
		gate, up := make([]float32, n), make([]float32, n)
		for i := range gate {
			gate[i] = float32(rng.NormFloat64() * 60)
			up[i] = float32(rng.NormFloat64())
		}
		want := append([]float32(nil), gate...)
		swigluGo(want, up)
		SwiGLU(gate, up)
		for i := range gate {
			if math.Float32bits(gate[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: element %d %v, Go %v", n, i, gate[i], want[i])
			}
		}
	}
}
