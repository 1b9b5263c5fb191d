package kernels_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// TestCodecTable checks that every known type has a codec and that
// unknown ids are refused.
func TestCodecTable(t *testing.T) {
	if got := len(allTypes()); got != 15 {
		t.Errorf("%d known types, want 15", got)
	}
	for _, typ := range allTypes() {
		c, err := typ.Codec()
		if err != nil || c.Dequantize == nil || c.Dot == nil || c.Quantize == nil {
			t.Errorf("%v: codec %+v, error %v", typ, c, err)
		}
	}
	for _, id := range []kernels.DType{4, 5, 9, 15, 16, 24, 29, 31, 1 << 20} {
		if _, err := id.Codec(); !errors.Is(err, kernels.ErrUnknownType) {
			t.Errorf("id %d: error %v, want ErrUnknownType", uint32(id), err)
		}
	}
}

// TestNoAllocs checks that the codec functions and a matvec allocate
// nothing.
func TestNoAllocs(t *testing.T) {
	const cols = 512
	vf := loadVectors(t)
	src := vf.floats(t, "source")[:cols]
	x := make([]float32, cols)
	dst := make([]float32, cols)
	y := make([]float32, 1)
	for _, typ := range allTypes() {
		c := mustCodec(t, typ)
		row := make([]byte, rowBytes(t, typ, cols))
		fns := map[string]func(){
			"Quantize":   func() { c.Quantize(row, src) },
			"Dequantize": func() { c.Dequantize(dst, row) },
			"Dot":        func() { c.Dot(row, x) },
			"MatVecRows": func() {
				if err := kernels.MatVecRows(typ, row, cols, 0, 1, x, y); err != nil {
					t.Fatal(err)
				}
			},
		}
		for name, fn := range fns {
			if n := testing.AllocsPerRun(10, fn); n != 0 {
				t.Errorf("%v %s: %v allocations", typ, name, n)
			}
		}
	}
}

// TestCodecPanicsOnMismatch checks that a codec refuses slices whose sizes
// disagree instead of reading or writing past them.
func TestCodecPanicsOnMismatch(t *testing.T) {
	for _, typ := range allTypes() {
		c := mustCodec(t, typ)
		l, _ := typ.Layout()
		row := make([]byte, 2*l.BlockBytes)
		calls := map[string]func(){
			"Dequantize short dst": func() { c.Dequantize(make([]float32, l.BlockElems), row) },
			"Dot long x":           func() { c.Dot(row, make([]float32, 3*l.BlockElems)) },
			"Quantize short dst":   func() { c.Quantize(row[:l.BlockBytes], make([]float32, 2*l.BlockElems)) },
		}
		for name, call := range calls {
			if !panics(call) {
				t.Errorf("%v %s: no panic", typ, name)
			}
		}
	}
}

func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}

// TestQuantizeRoundTrip quantizes smooth data and checks that the error of
// each type stays within a bound fitting its bits per value.
func TestQuantizeRoundTrip(t *testing.T) {
	const cols = 1024
	src := make([]float32, cols)
	for i := range src {
		src[i] = float32(math.Sin(float64(i)*0.37) + 0.3*math.Cos(float64(i)*1.91))
	}
	bounds := map[kernels.DType]float64{
		kernels.F32: 0, kernels.F16: 3e-4, kernels.BF16: 3e-3, kernels.Q8_0: 6e-3,
		kernels.Q6_K: 2e-2, kernels.Q5_0: 3e-2, kernels.Q5_1: 3e-2, kernels.Q5_K: 3e-2,
		kernels.Q4_0: 6e-2, kernels.Q4_1: 6e-2, kernels.Q4_K: 6e-2, kernels.IQ4_NL: 6e-2,
		kernels.IQ4_XS: 6e-2, kernels.Q3_K: 0.12, kernels.Q2_K: 0.25,
	}
	for _, typ := range allTypes() {
		deq := dequantizeRows(t, typ, quantizeRows(t, typ, src, cols), cols)
		e := rowRMSE(deq, src, cols)[0]
		t.Logf("%v: RMSE %.3g", typ, e)
		if e > bounds[typ] {
			t.Errorf("%v: RMSE %.3g, want <= %.3g", typ, e, bounds[typ])
		}
	}
}
