package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The fast dot products are held to the codecs' Dot, which sums in float64:
// blockLanes rounds each product and three additions per lane to float32,
// so its error is at most about 5·2⁻²⁴·Σ|wᵢxᵢ|. fastTolerance allows twice
// that, relative to Σ|wᵢxᵢ|.
const fastTolerance = 6e-7

// randomF32 returns n normally distributed values.
func randomF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// absDot is Σ|wᵢxᵢ| in float64.
func absDot(w, x []float32) float64 {
	var s float64
	for i, v := range w {
		s += math.Abs(float64(v) * float64(x[i]))
	}
	return s
}

// withAsm runs f with the assembly kernels on or off, restoring the
// setting afterwards.
func withAsm(t testing.TB, on bool, f func()) {
	t.Helper()
	old := useAsm
	useAsm = on && old
	defer func() { useAsm = old }()
	f()
}

// oddLengths are row lengths around the block sizes, and some model widths.
var oddLengths = []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 172, 255, 256, 257, 768, 1000, 2048}

func TestDotF32MatchesCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range oddLengths {
		w, x := randomF32(rng, n), randomF32(rng, n)
		want := dotF32(encodeF32(w), x)
		got := dotF32Go(w, x)
		if d := math.Abs(float64(got) - float64(want)); d > fastTolerance*absDot(w, x) {
			t.Errorf("n=%d: fast %v, codec %v (|Δ| %g > %g)", n, got, want, d, fastTolerance*absDot(w, x))
		}
	}
}

func TestDotRowsF32AsmMatchesGo(t *testing.T) {
	if !useAsm {
		t.Skip("no assembly kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 300; n++ {
		for _, pad := range []int{0, 3} {
			const rows = 5
			stride := n + pad
			w, x := randomF32(rng, (rows-1)*stride+n), randomF32(rng, n)
			want, got := make([]float32, rows), make([]float32, rows)
			withAsm(t, false, func() { dotRowsF32(want, w, stride, x) })
			dotRowsF32(got, w, stride, x)
			for r := range want {
				if math.Float32bits(got[r]) != math.Float32bits(want[r]) {
					t.Fatalf("n=%d stride=%d row %d: assembly %v, Go %v", n, stride, r, got[r], want[r])
				}
			}
		}
	}
}

// TestDotF32Zeros checks the sign of zero sums and that padding never
// turns an infinite product into NaN.
func TestDotF32Special(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		w, x []float32
		want float32
	}{
		{[]float32{0, 0, 0}, []float32{-1, 1, 1}, 0},
		{[]float32{inf, 1, 1}, []float32{1, 1, 1}, inf},
		{[]float32{1, 2, 3}, []float32{4, 5, 6}, 32},
	}
	for _, c := range cases {
		for _, asm := range []bool{false, true} {
			var y [1]float32
			withAsm(t, asm, func() { dotRowsF32(y[:], c.w, len(c.w), c.x) })
			if math.Float32bits(y[0]) != math.Float32bits(c.want) {
				t.Errorf("asm %v: %v·%v = %v, want %v", asm, c.w, c.x, y[0], c.want)
			}
		}
	}
}

// encodeF32 stores v as little-endian F32 bytes.
func encodeF32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	quantizeF32(b, v)
	return b
}
