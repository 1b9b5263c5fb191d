//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// matvecTol is the matvec and matmul tolerance: |gpu − ref| ≤ 1e-4 ×
// Σ|w·x|, ref being the Go reference's float64-accumulated dot product.
const matvecTol = 1e-4

type linearCase struct {
	rows, cols, n int
	chunkRows     int // rows per chunk; 0: one chunk
	accumulate    bool
}

func colsFor(typ kernels.DType, base int) int {
	l, _ := typ.Layout()
	return (base + l.BlockElems - 1) / l.BlockElems * l.BlockElems
}

func linearCases(typ kernels.DType) []linearCase {
	cs := []linearCase{
		{rows: 1, cols: colsFor(typ, 32), n: 1},
		{rows: 7, cols: colsFor(typ, 256), n: 1},
		{rows: 67, cols: 3 * colsFor(typ, 256), n: 1, accumulate: true},
		{rows: 130, cols: colsFor(typ, 512), n: 3},
		{rows: 45, cols: colsFor(typ, 768), n: 2, chunkRows: 10},
	}
	if typ == kernels.F32 || typ == kernels.F16 {
		cs = append(cs, linearCase{rows: 13, cols: 172, n: 1}, linearCase{rows: 5, cols: 37, n: 2})
	}
	return cs
}

func TestMatVec(t *testing.T) {
	for _, typ := range wgsl.Types() {
		for _, c := range linearCases(typ) {
			t.Run(fmt.Sprintf("%s/%dx%d/n%d/chunk%d", typ, c.rows, c.cols, c.n, c.chunkRows), func(t *testing.T) {
				testLinear(t, typ, c, false)
			})
		}
	}
}

func TestMatMul(t *testing.T) {
	for _, typ := range wgsl.Types() {
		for _, c := range linearCases(typ) {
			c.n += 65 // past one 64-token tile
			t.Run(fmt.Sprintf("%s/%dx%d/n%d/chunk%d", typ, c.rows, c.cols, c.n, c.chunkRows), func(t *testing.T) {
				testLinear(t, typ, c, true)
			})
		}
	}
}

func testLinear(t *testing.T, typ kernels.DType, c linearCase, matmul bool) {
	testLinearWith(t, typ, c, matmul, nil)
}

func testLinearShape(t *testing.T, typ kernels.DType, c linearCase, sh wgsl.MatVecShape) {
	testLinearWith(t, typ, c, false, func(int) wgsl.MatVecShape { return sh })
}

func testLinearWith(t *testing.T, typ kernels.DType, c linearCase, matmul bool, shape func(int) wgsl.MatVecShape) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.cols*c.n)))
	data := randWeights(t, r, typ, c.rows, c.cols)
	xs := randVec(r, c.n*c.cols, 1)
	want := make([]float32, c.n*c.rows)
	if err := kernels.MatMulRows(typ, data, c.cols, 0, c.rows, xs, c.n, want); err != nil {
		t.Fatal(err)
	}
	bound := absDots(t, typ, data, c.rows, c.cols, xs, c.n)
	// The output sits at an offset with a stride wider than a row, as in a
	// stage's buffers.
	yOff, yStride := 3, c.rows+5
	init := randVec(r, yOff+c.n*yStride, 1)
	if c.accumulate {
		for i := range c.n {
			for j := range c.rows {
				want[i*c.rows+j] += init[yOff+i*yStride+j]
				bound[i*c.rows+j] += abs32(init[yOff+i*yStride+j])
			}
		}
	}
	var maxChunk int64
	if c.chunkRows > 0 {
		rb, _ := typ.RowBytes(int64(c.cols))
		maxChunk = rb*int64(c.chunkRows) + 4
	}
	w, err := dev.UploadWeights(typ, c.rows, c.cols, data, maxChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Destroy()
	if maxChunk > 0 && len(w.Chunks) < 2 {
		t.Fatalf("%d chunks, want several", len(w.Chunks))
	}
	x := storage(t, xs, 0)
	y := storage(t, init, 0)
	step := newStep(t)
	ops := dev.NewOps(step)
	ops.Shape = shape
	defer ops.Destroy()
	p := dev.NewProgram(step)
	if err := ops.Linear(ctx, p, w, Vec{Buf: x, Stride: c.cols}, Vec{Buf: y, Off: yOff, Stride: yStride}, c.accumulate, matmul); err != nil {
		t.Fatal(err)
	}
	ops.Flush()
	p.Run(c.n, 0)
	out := readF32(t, y, len(init))
	got := make([]float32, 0, c.n*c.rows)
	for i := range c.n {
		got = append(got, out[yOff+i*yStride:yOff+i*yStride+c.rows]...)
	}
	closeTo(t, "y", got, want, bound, matvecTol)
	// Values around the output are untouched.
	if out[0] != init[0] || out[yOff+c.rows] != init[yOff+c.rows] {
		t.Errorf("wrote outside the output rows")
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
