package kernels

import (
	"math"
	"testing"
	"unsafe"
)

// TestExpAsmMatchesGo compares the assembly exponential with Exp32 bit for
// bit over float32 bit patterns taken at a stride (NaN only as NaN).
func TestExpAsmMatchesGo(t *testing.T) {
	if !useAsm {
		t.Skip("no assembly kernels on this CPU")
	}
	const stride = 4099
	var batch, want []float32
	flush := func() {
		for len(batch)%8 != 0 {
			batch = append(batch, 0)
			want = append(want, 1)
		}
		got := append([]float32(nil), batch...)
		expAVX2(unsafe.SliceData(got), len(got)/8)
		for i := range got {
			w, g := want[i], got[i]
			if w != w && g != g {
				continue
			}
			if math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("exp(%v): assembly %v, Go %v", batch[i], g, w)
			}
		}
		batch, want = batch[:0], want[:0]
	}
	for b := uint64(0); b < 1<<32; b += stride {
		x := math.Float32frombits(uint32(b))
		batch = append(batch, x)
		want = append(want, Exp32(x))
		if len(batch) == 4096 {
			flush()
		}
	}
	for _, x := range []float32{-150, -149.99, -103.97, 88.72, 88.73, 100, 100.01, float32(math.Inf(1)), float32(math.Inf(-1))} {
		batch = append(batch, x)
		want = append(want, Exp32(x))
	}
	flush()
}
