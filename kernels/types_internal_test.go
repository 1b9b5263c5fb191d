package kernels

import (
	"math"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func BenchmarkInternalAdd(b *testing.B) {
	a, x := make([]float32, 4096), make([]float32, 4096)
	for i := range a {
		a[i], x[i] = float32(i), float32(i)
	}
	var s float32
	for b.Loop() {
		var d dotSums
		d.add(a, x)
		s += d.sum()
	}
	_ = s
}

func BenchmarkInternalDeqQ4_0(b *testing.B) {
	src := make([]byte, 128*18)
	var buf [32]float32
	for b.Loop() {
		for i := range 128 {
			deqBlockQ4_0(&buf, (*[18]byte)(src[18*i:]))
		}
	}
}


func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuTime(f func(), iters int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Hour
	for range 5 {
		t0 := threadCPU()
		for range iters {
			f()
		}
		best = min(best, (threadCPU()-t0)/time.Duration(iters))
	}
	return best
}

func TestInternalCPUTime(t *testing.T) {
	if os.Getenv("CPUTIME") == "" {
		t.Skip()
	}
	src, x := make([]float32, 4096), make([]float32, 4096)
	for i := range src {
		src[i], x[i] = float32(math.Sin(float64(i))), float32(math.Cos(float64(i)))
	}
	for _, typ := range DTypes() {
		c, _ := typ.Codec()
		rb, _ := typ.RowBytes(4096)
		row := make([]byte, rb)
		c.Quantize(row, src)
		d := cpuTime(func() { c.Dot(row, x) }, 20000)
		t.Logf("%-7v %8v  %6.2f GB/s", typ, d, float64(rb)/d.Seconds()/1e9)
	}
}
