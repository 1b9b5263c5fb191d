//go:build amd64

package kernels

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMatMulBatch times a 768×2048 matrix (a stories110M
// feed-forward projection, 6 MiB as F32: it stays in cache, as a batch's
// weights do) in F32 and Q8_0 times B vectors on one core, dotting four
// vectors per weight load (x4) or one (x1). b.SetBytes counts the
// multiply-adds' weights, so MB/s reads as million weights × vectors per
// second.
func BenchmarkMatMulBatch(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []DType{F32, Q8_0} {
		m, _ := randomMatrix(b, rng, typ, 768, 2048)
		for _, n := range []int{1, 4, 16, 32} {
			benchBatch(b, rng, m, n)
		}
	}
}

// benchBatch runs BenchmarkMatMulBatch's cases for m and n vectors.
func benchBatch(b *testing.B, rng *rand.Rand, m *Matrix, n int) {
	xs := randomF32(rng, n*m.Cols)
	ys := make([]float32, n*m.Rows)
	for _, x4 := range []bool{false, true} {
		name := "x1"
		if x4 {
			name = "x4"
		}
		b.Run(m.Type.String()+"/B"+strconv.Itoa(n)+"/"+name, func(b *testing.B) {
			defer func(v bool) { useBatchAsm = v }(useBatchAsm)
			useBatchAsm = x4
			b.SetBytes(int64(m.Rows * m.Cols * n))
			cpu0 := processCPU()
			for b.Loop() {
				m.MatMul(ys, xs, n)
			}
			// On a shared machine CPU time is the steadier figure.
			cpu := (processCPU() - cpu0).Seconds()
			b.ReportMetric(float64(m.Rows*m.Cols*n)*float64(b.N)/cpu/1e9, "Gmac/cpu-s")
		})
	}
}

// processCPU is the user and system CPU time of the process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMatMulBatchStreamed is BenchmarkMatMulBatch with the weights
// coming from memory, as a stage's do in a forward pass: it cycles through
// copies of a 768×2048 matrix filling benchFootprint, four vectors per
// weight load, on one core.
func BenchmarkMatMulBatchStreamed(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []DType{F32, Q8_0} {
		m, _ := randomMatrix(b, rng, typ, 768, 2048)
		ms := copies(b, m)
		for _, n := range []int{1, 4, 13, 16, 32} {
			xs := randomF32(rng, n*m.Cols)
			ys := make([]float32, n*m.Rows)
			b.Run(typ.String()+"/B"+strconv.Itoa(n), func(b *testing.B) {
				b.SetBytes(int64(m.Rows * m.Cols * n))
				cpu0 := processCPU()
				i := 0
				for b.Loop() {
					ms[i%len(ms)].MatMul(ys, xs, n)
					i++
				}
				cpu := (processCPU() - cpu0).Seconds()
				b.ReportMetric(float64(m.Rows*m.Cols*n)*float64(b.N)/cpu/1e9, "Gmac/cpu-s")
			})
		}
	}
}
