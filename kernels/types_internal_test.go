package kernels

import "testing"

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
