package kernels_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// matvecTol is the relative tolerance of MatVecRows against y summed in
// float64: |got-want| <= matvecTol*|want|.
const matvecTol = 1e-5

// TestMatVecVectors checks MatVecRows against the y ggml's data gives.
// For the types the matvec file stores, W and y are ggml's; for the others
// W is w_source quantized here and y is summed in float64 as the file's.
func TestMatVecVectors(t *testing.T) {
	mv := loadMatVec(t)
	x, wsrc := mv.floats(t, "x"), mv.floats(t, "w_source")
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			w, want := matvecCase(t, mv, typ, wsrc, x)
			y := make([]float32, mv.rows)
			if err := kernels.MatVecRows(typ, w, mv.cols, 0, mv.rows, x, y); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for r := range want {
				rel := math.Abs(float64(y[r])-float64(want[r])) / math.Abs(float64(want[r]))
				worst = max(worst, rel)
				if rel > matvecTol {
					t.Errorf("row %d: got %g, want %g (relative error %.2g)", r, y[r], want[r], rel)
				}
			}
			t.Logf("worst relative error %.2g", worst)
		})
	}
}

// matvecCase returns the weights and expected y of typ's matvec test.
func matvecCase(t *testing.T, mv *vectorFile, typ kernels.DType, wsrc, x []float32) ([]byte, []float32) {
	name := typ.String()
	if _, ok := mv.tensors[name+".w"]; ok {
		return mv.raw(t, name+".w", typ), mv.floats(t, name+".y")
	}
	w := quantizeRows(t, typ, wsrc, mv.cols)
	deq := dequantizeRows(t, typ, w, mv.cols)
	want := make([]float32, mv.rows)
	for r := range want {
		want[r] = refDot(deq[r*mv.cols:(r+1)*mv.cols], x)
	}
	return w, want
}

// TestMatVecSplit checks that computing a matvec in row ranges, each from
// its own buffer, gives the whole matvec bit for bit.
func TestMatVecSplit(t *testing.T) {
	mv := loadMatVec(t)
	x, wsrc := mv.floats(t, "x"), mv.floats(t, "w_source")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			w := quantizeRows(t, typ, wsrc, mv.cols)
			rb := rowBytes(t, typ, mv.cols)
			whole := make([]float32, mv.rows)
			if err := kernels.MatVecRows(typ, w, mv.cols, 0, mv.rows, x, whole); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				cuts := randomCuts(rng, mv.rows)
				for i := 1; i < len(cuts); i++ {
					a, b := cuts[i-1], cuts[i]
					// Row a of the tensor is row 1 of this chunk.
					chunk := w[(a-1+1)*rb-rb*min(a, 1) : b*rb]
					off := min(a, 1)
					part := make([]float32, b-a)
					if err := kernels.MatVecRows(typ, chunk, mv.cols, off, off+b-a, x, part); err != nil {
						t.Fatal(err)
					}
					assertSameBits(t, part, whole[a:b], 1)
				}
			}
		})
	}
}

// randomCuts returns 0 = c0 < c1 < ... < ck = n.
func randomCuts(rng *rand.Rand, n int) []int {
	cuts := []int{0}
	for c := 0; c < n; {
		c = min(n, c+1+rng.IntN(n/3))
		cuts = append(cuts, c)
	}
	return cuts
}

// TestMatMulMatchesMatVec checks that a batch gives, for each vector, the
// bits MatVecRows gives, and that Dot equals dotting the dequantized row.
func TestMatMulMatchesMatVec(t *testing.T) {
	mv := loadMatVec(t)
	wsrc := mv.floats(t, "w_source")
	const n, rowBegin, rowEnd = 3, 5, 21
	xs := wsrc[:n*mv.cols] // any data will do
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			w := quantizeRows(t, typ, wsrc, mv.cols)
			m := rowEnd - rowBegin
			ys := make([]float32, n*m)
			if err := kernels.MatMulRows(typ, w, mv.cols, rowBegin, rowEnd, xs, n, ys); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				y := make([]float32, m)
				x := xs[i*mv.cols : (i+1)*mv.cols]
				if err := kernels.MatVecRows(typ, w, mv.cols, rowBegin, rowEnd, x, y); err != nil {
					t.Fatal(err)
				}
				assertSameBits(t, ys[i*m:(i+1)*m], y, m)
			}
		})
	}
}

// TestMatVecShapeErrors checks that bad operands give errors, not panics.
func TestMatVecShapeErrors(t *testing.T) {
	w := make([]byte, 4*18)
	x, y := make([]float32, 32), make([]float32, 4)
	cases := []struct {
		name       string
		typ        kernels.DType
		cols, b, e int
		w          []byte
		x, y       []float32
		want       error
	}{
		{"unknown type", kernels.DType(99), 32, 0, 4, w, x, y, kernels.ErrUnknownType},
		{"partial block", kernels.Q4_0, 31, 0, 4, w, x[:31], y, kernels.ErrRowLength},
		{"rows past w", kernels.Q4_0, 32, 1, 5, w, x, y, kernels.ErrShape},
		{"negative begin", kernels.Q4_0, 32, -1, 3, w, x, y, kernels.ErrShape},
		{"end before begin", kernels.Q4_0, 32, 3, 2, w, x, y, kernels.ErrShape},
		{"short x", kernels.Q4_0, 32, 0, 4, w, x[:16], y, kernels.ErrShape},
		{"short y", kernels.Q4_0, 32, 0, 4, w, x, y[:3], kernels.ErrShape},
	}
	for _, c := range cases {
		err := kernels.MatVecRows(c.typ, c.w, c.cols, c.b, c.e, c.x, c.y)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := kernels.DType(4).Codec(); !errors.Is(err, kernels.ErrUnknownType) {
		t.Errorf("Codec of retired id 4: got %v", err)
	}
}

// TestDotMatchesDequantize checks that Dot gives the bits of dequantizing
// the row and summing it (MatMulRows' batch path), on quantized rows of
// varied magnitude and on random bytes (negative, subnormal, infinite and
// NaN scales), with odd row lengths for the float types.
func TestDotMatchesDequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range allTypes() {
		l, _ := typ.Layout()
		finite := 0
		for trial := range 6 {
			cols := 256 << (trial % 3)
			if l.BlockElems == 1 {
				cols += rng.IntN(4)
			}
			w := randomRows(t, rng, typ, cols, 8, trial%2 == 1)
			finite += compareDotPaths(t, typ, w, cols, rng)
		}
		if finite < 16 {
			t.Errorf("%v: only %d finite results compared", typ, finite)
		}
	}
}

// randomRows returns rows×cols values of typ: random bytes, or random
// normal data at random magnitudes quantized.
func randomRows(t *testing.T, rng *rand.Rand, typ kernels.DType, cols, rows int, raw bool) []byte {
	if raw {
		w := make([]byte, rows*rowBytes(t, typ, cols))
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		return w
	}
	src := make([]float32, rows*cols)
	for r := range rows {
		scale := math.Pow(10, float64(rng.IntN(10)-7))
		for j := range cols {
			src[r*cols+j] = float32(rng.NormFloat64() * scale)
		}
	}
	return quantizeRows(t, typ, src, cols)
}

// compareDotPaths checks Dot against dequantize-then-sum for each row of w
// and returns how many finite results it compared.
func compareDotPaths(t *testing.T, typ kernels.DType, w []byte, cols int, rng *rand.Rand) int {
	rows := len(w) / rowBytes(t, typ, cols)
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	fused := make([]float32, rows)
	if err := kernels.MatVecRows(typ, w, cols, 0, rows, x, fused); err != nil {
		t.Fatal(err)
	}
	batch := make([]float32, 2*rows)
	if err := kernels.MatMulRows(typ, w, cols, 0, rows, append(x[:cols:cols], x...), 2, batch); err != nil {
		t.Fatal(err)
	}
	finite := 0
	for r := range rows {
		a, b := fused[r], batch[r]
		if a != a && b != b {
			continue
		}
		if math.Float32bits(a) != math.Float32bits(b) {
			t.Errorf("%v cols %d row %d: Dot %g, dequantized %g", typ, cols, r, a, b)
		}
		if !math.IsInf(float64(a), 0) {
			finite++
		}
	}
	return finite
}
