//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// dev is the device every test of the binary shares.
var dev *Device

func TestMain(m *testing.M) {
	d, err := Open(context.Background(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpu tests:", err)
		os.Exit(1)
	}
	dev = d
	fmt.Fprintf(os.Stderr, "gpu tests: adapter %+v\n  features %v\n  limits %+v\n", d.Info, d.Features, d.Limits)
	os.Exit(m.Run())
}

// randVec returns n values uniform in [-scale, scale).
func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*r.Float32() - 1) * scale
	}
	return v
}

// randWeights returns rows×cols values of type t, quantized from random
// values: real blocks, as a quantizer writes them.
func randWeights(t *testing.T, r *rand.Rand, typ kernels.DType, rows, cols int) []byte {
	t.Helper()
	c, err := typ.Codec()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := typ.RowBytes(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, int64(rows)*rb)
	for i := range rows {
		c.Quantize(out[int64(i)*rb:int64(i+1)*rb], randVec(r, cols, 1))
	}
	return out
}

// closeTo checks got against want within tol × bound[i] (bound being the
// size of the sum's terms, Σ|a·b|, so that cancellation does not make the
// check meaningless) plus a tiny absolute floor.
func closeTo(t *testing.T, what string, got, want, bound []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	worst, at := 0.0, -1
	for i := range got {
		b := 1.0
		if bound != nil {
			b = float64(bound[i])
		}
		err := math.Abs(float64(got[i]) - float64(want[i]))
		lim := tol*b + 1e-30
		if !(err <= lim) {
			bad++
		}
		if r := err / lim; r > worst || math.IsNaN(err) {
			worst, at = r, i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off; worst [%d] got %g want %g (%.3g× the tolerance %g)", what, bad, len(got), at, got[at], want[at], worst, tol)
	}
}

// absDots returns Σ_j |w[r][j]·x[j]| per row, the scale of each dot
// product's terms.
func absDots(t *testing.T, typ kernels.DType, w []byte, rows, cols int, xs []float32, n int) []float32 {
	t.Helper()
	c, _ := typ.Codec()
	rb, _ := typ.RowBytes(int64(cols))
	row := make([]float32, cols)
	out := make([]float32, n*rows)
	for r := range rows {
		c.Dequantize(row, w[int64(r)*rb:int64(r+1)*rb])
		for i := range n {
			s := 0.0
			for j, v := range row {
				s += math.Abs(float64(v) * float64(xs[i*cols+j]))
			}
			out[i*rows+r] = float32(s)
		}
	}
	return out
}

// newStep returns a Step uniform buffer.
func newStep(t *testing.T) *Buffer {
	t.Helper()
	b, err := dev.NewUniform(16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Destroy)
	return b
}

// storage returns a storage buffer holding v (or n zero floats).
func storage(t *testing.T, v []float32, n int) *Buffer {
	t.Helper()
	b, err := dev.NewStorage(int64(4 * max(n, len(v))))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 0 {
		dev.WriteF32(b, 0, v)
	}
	t.Cleanup(b.Destroy)
	return b
}

func readF32(t *testing.T, b *Buffer, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := dev.ReadF32(context.Background(), b, 0, out); err != nil {
		t.Fatal(err)
	}
	return out
}
