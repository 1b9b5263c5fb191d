//go:build amd64

package kernels

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkMatMulBatch times an F32 768×2048 matrix (a stories110M
// feed-forward projection, 6 MiB: it stays in cache, as a batch's weights
// do) times B vectors on one core, dotting four vectors per weight load
// (x4) or one (x1). b.SetBytes counts the multiply-adds' weights, so
// MB/s reads as million weights × vectors per second.
func BenchmarkMatMulBatch(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rng := rand.New(rand.NewPCG(1, 2))
	m, _ := randomMatrix(b, rng, F32, 768, 2048)
	for _, n := range []int{1, 4, 16} {
		xs := randomF32(rng, n*m.Cols)
		ys := make([]float32, n*m.Rows)
		for _, x4 := range []bool{false, true} {
			name := "x1"
			if x4 {
				name = "x4"
			}
			b.Run("B"+strconv.Itoa(n)+"/"+name, func(b *testing.B) {
				defer func(v bool) { useBatchAsm = v }(useBatchAsm)
				useBatchAsm = x4
				b.SetBytes(int64(m.Rows * m.Cols * n))
				for b.Loop() {
					m.MatMul(ys, xs, n)
				}
			})
		}
	}
}
