package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestHeadAsmMatchesGo checks HeadScores and HeadWeigh against their Go
// reference bit for bit, for head sizes with and without whole octets.
func TestHeadAsmMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, hd := range []int{1, 5, 8, 12, 16, 20, 64, 128} {
		for _, n := range []int{1, 2, 7, 33} {
			t.Run(fmt.Sprintf("hd=%d/n=%d", hd, n), func(t *testing.T) {
				stride := 3*hd + 1
				q := randomF32(rng, hd)
				keys, values := randomF32(rng, (n-1)*stride+hd), randomF32(rng, (n-1)*stride+hd)
				att := randomF32(rng, n)
				wantS, gotS := make([]float32, n), make([]float32, n)
				headScoresGo(wantS, q, keys, stride, 2.5)
				HeadScores(gotS, q, keys, stride, 2.5)
				wantW, gotW := randomF32(rng, hd), make([]float32, hd)
				copy(gotW, wantW)
				headWeighGo(wantW, att, values, stride)
				HeadWeigh(gotW, att, values, stride)
				for i := range gotS {
					if math.Float32bits(gotS[i]) != math.Float32bits(wantS[i]) {
						t.Fatalf("score %d: %v, Go %v", i, gotS[i], wantS[i])
					}
				}
				for i := range gotW {
					if math.Float32bits(gotW[i]) != math.Float32bits(wantW[i]) {
						t.Fatalf("output %d: %v, Go %v", i, gotW[i], wantW[i])
					}
				}
			})
		}
	}
}

// TestHeadScoresAccuracy holds HeadScores to a float64 dot product.
func TestHeadScoresAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, hd := range []int{8, 12, 64, 128} {
		q, k := randomF32(rng, hd), randomF32(rng, hd)
		var got [1]float32
		HeadScores(got[:], q, k, hd, 1)
		var want float64
		for i := range q {
			want += float64(q[i]) * float64(k[i])
		}
		// float32 sums of at most hd/8+3 terms per path.
		tol := float64(hd/8+4) * 0x1p-24 * absDot(q, k)
		if d := math.Abs(float64(got[0]) - want); d > tol {
			t.Errorf("hd=%d: %v, exact %v (|Δ| %g > %g)", hd, got[0], want, d, tol)
		}
	}
}
