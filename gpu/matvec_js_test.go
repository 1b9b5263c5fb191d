//go:build js && wasm

package gpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall/js"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model/gguf"
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
	if typ == kernels.Q6_K { // split rows (wgsl.Split): 8 super-blocks and more
		cs = append(cs, linearCase{rows: 9, cols: 2048, n: 2}, linearCase{rows: 20, cols: 4096, n: 1, chunkRows: 7, accumulate: true})
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

// TestMatVecModes holds each way of reading x to the reference, for the
// types that have several (the default is TestMatVec's); direct reads
// need unsplit weights.
func TestMatVecModes(t *testing.T) {
	for _, typ := range planarTypes {
		for _, m := range []wgsl.XMode{wgsl.XDirect, wgsl.XPlanar, wgsl.XInt8} {
			for _, c := range linearCases(typ) {
				t.Run(fmt.Sprintf("%s/%v/%dx%d/n%d/chunk%d", typ, m, c.rows, c.cols, c.n, c.chunkRows), func(t *testing.T) {
					if m == wgsl.XDirect {
						dev.NoSplit = true
						defer func() { dev.NoSplit = false }()
					}
					testLinearWith(t, typ, c, false, nil, m)
				})
			}
		}
	}
}

// planarTypes are the types with a planar int8 matvec: Q5_K, Q5_0, Q5_1,
// Q4_1, IQ4_NL and IQ4_XS have no other (their direct and f32 planar
// modes resolve to int8).
var planarTypes = []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q2_K, kernels.Q3_K, kernels.Q6_K,
	kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS}

// TestKUnits holds the int8 Q4_K and Q5_K matvecs to the reference with
// each unit (wgsl.KUnit: 64 values, half and a whole super-block), and
// their batched matvecs to them bit for bit, with subgroup and
// workgroup reductions.
func TestKUnits(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.Q4_K, kernels.Q5_K} {
		for _, unit := range []int{64, 128, 256} {
			withKUnit(t, unit, func() {
				for _, c := range linearCases(typ) {
					t.Run(fmt.Sprintf("%s/unit%d/%dx%d/n%d/chunk%d", typ, unit, c.rows, c.cols, c.n, c.chunkRows), func(t *testing.T) {
						testLinearWith(t, typ, c, false, nil, wgsl.XInt8)
					})
				}
				for _, sub := range []bool{true, false} {
					for _, c := range []linearCase{{rows: 67, cols: 768, chunkRows: 30, accumulate: true}, {rows: 40, cols: 4096}} {
						t.Run(fmt.Sprintf("%s/unit%d/batch/%dx%d/subgroups=%v", typ, unit, c.rows, c.cols, sub), func(t *testing.T) {
							dev.NoSubgroups = !sub
							defer func() { dev.NoSubgroups = false }()
							testBatchInvariance(t, typ, c, []int{1, 3, 17}, nil)
						})
					}
				}
			})
		}
	}
	withKUnit(t, 96, func() {
		data := randWeights(t, rand.New(rand.NewPCG(1, 2)), kernels.Q4_K, 4, 256)
		w, err := dev.UploadWeights(kernels.Q4_K, 4, 256, data, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Destroy()
		step := newStep(t)
		o := dev.NewOps(step)
		defer o.Destroy()
		y := storage(t, nil, 4)
		err = o.Linear(context.Background(), dev.NewProgram(step), w, Vec{Buf: storage(t, nil, 256), Stride: 256}, Vec{Buf: y, Stride: 4}, false, false)
		if !errors.Is(err, wgsl.ErrUnsupported) {
			t.Errorf("a Q4_K unit of 96: %v, want ErrUnsupported", err)
		}
	})
}

// withKUnit runs f with wgsl.KUnit set to unit.
func withKUnit(t *testing.T, unit int, f func()) {
	t.Helper()
	old := wgsl.KUnit
	wgsl.KUnit = unit
	defer func() { wgsl.KUnit = old }()
	f()
}

func testLinear(t *testing.T, typ kernels.DType, c linearCase, matmul bool) {
	testLinearWith(t, typ, c, matmul, nil, wgsl.XAuto)
}

func testLinearShape(t *testing.T, typ kernels.DType, c linearCase, sh wgsl.MatVecShape) {
	testLinearWith(t, typ, c, false, func(int) wgsl.MatVecShape { return sh }, wgsl.XAuto)
}

func testLinearWith(t *testing.T, typ kernels.DType, c linearCase, matmul bool, shape func(int) wgsl.MatVecShape, mode wgsl.XMode) {
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
	ops.Batch = max(64, c.n) // the prepared vectors' scratch
	ops.Shape = shape
	ops.XMode = mode
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

// TestPreparedReuse checks that prepared vectors serve the matvecs that
// share their source, and are prepared again once a kernel may have
// changed it: another op in between, or a matvec writing into its
// buffer.
func TestPreparedReuse(t *testing.T) {
	typ, rows, cols := kernels.Q4_0, 24, 512
	r := rand.New(rand.NewPCG(3, 4))
	da, db := randWeights(t, r, typ, rows, cols), randWeights(t, r, typ, cols, cols)
	a, err := dev.UploadWeights(typ, rows, cols, da, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	b, err := dev.UploadWeights(typ, cols, cols, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	x0, z := randVec(r, cols, 1), randVec(r, cols, 1)
	// xy holds x, then room for b·x (cols values).
	xy := storage(t, append(append([]float32{}, x0...), make([]float32, cols)...), 0)
	zb := storage(t, z, 0)
	y := storage(t, nil, 4*rows)
	x := Vec{Buf: xy, Stride: 2 * cols}
	var prepared int
	program(t, 1, 0, func(ctx context.Context, o *Ops, p *Program) error {
		steps := []func() error{
			func() error { return o.Linear(ctx, p, a, x, Vec{Buf: y, Stride: rows}, false, false) },            // a·x0
			func() error { return o.Linear(ctx, p, a, x, Vec{Buf: y, Off: rows, Stride: rows}, false, false) }, // again: reuse
			func() error { return o.Add(ctx, p, xy, zb, cols, 2*cols) },                                        // x = x0+z
			func() error { return o.Linear(ctx, p, a, x, Vec{Buf: y, Off: 2 * rows, Stride: rows}, false, false) },
			func() error { return o.Linear(ctx, p, b, x, Vec{Buf: xy, Off: cols, Stride: 2 * cols}, false, false) }, // reuse, then writes into xy
			func() error {
				return o.Linear(ctx, p, a, Vec{Buf: xy, Off: cols, Stride: 2 * cols}, Vec{Buf: y, Off: 3 * rows, Stride: rows}, false, false)
			},
		}
		for _, s := range steps {
			n := p.Dispatches(1, 0)
			if err := s(); err != nil {
				return err
			}
			prepared += p.Dispatches(1, 0) - n - 1
		}
		return nil
	})
	if prepared != 3 { // the first, after the add, after the write into x's buffer
		t.Errorf("%d vectors prepared, want 3", prepared)
	}
	x1 := make([]float32, cols)
	for i := range x1 {
		x1[i] = x0[i] + z[i]
	}
	bx := make([]float32, cols)
	if err := kernels.MatMulRows(typ, db, cols, 0, cols, x1, 1, bx); err != nil {
		t.Fatal(err)
	}
	got := readF32(t, y, 4*rows)
	for i, in := range [][]float32{x0, x0, x1, bx} {
		want := make([]float32, rows)
		if err := kernels.MatMulRows(typ, da, cols, 0, rows, in, 1, want); err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("matvec %d", i), got[i*rows:(i+1)*rows], want, absDots(t, typ, da, rows, cols, in, 1), matvecTol)
	}
}

// TestFusedPrep holds the fused layouts to the plain path: RMSNorm that
// lays its output out for the planar matvec (RMSNormFor), and SwiGLU
// computed by the layout kernel (SwiGLUFor), each followed by the matvec
// that reads the layout, against the Go reference; a matvec of another
// type after RMSNormFor prepares its own layout from the f32 output.
func TestFusedPrep(t *testing.T) {
	for _, typ := range planarTypes {
		t.Run(typ.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(typ), 8))
			n, rows, cols := 3, 40, 512
			data := randWeights(t, r, typ, rows, cols)
			w, err := dev.UploadWeights(typ, rows, cols, data, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Destroy()
			other := kernels.F16 // read directly, from the norm's f32 output
			odata := randWeights(t, r, other, rows, cols)
			ow, err := dev.UploadWeights(other, rows, cols, odata, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer ow.Destroy()
			xs, g := randVec(r, n*cols, 2), randVec(r, cols, 1)
			gate, up := randVec(r, n*cols, 3), randVec(r, n*cols, 1)
			var h []float32
			for i := range n {
				h = append(append(h, gate[i*cols:(i+1)*cols]...), up[i*cols:(i+1)*cols]...)
			}
			normed, act := make([]float32, n*cols), append([]float32(nil), gate...)
			for i := range n {
				kernels.RMSNorm(normed[i*cols:(i+1)*cols], xs[i*cols:(i+1)*cols], g, 1e-5)
			}
			kernels.SwiGLU(act, up)
			x, gb, xb, hb := storage(t, xs, 0), storage(t, g, 0), storage(t, nil, n*cols), storage(t, h, 0)
			y := storage(t, nil, 3*n*rows)
			var dispatches int
			program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error {
				steps := []func() error{
					func() error {
						return o.RMSNormFor(ctx, p, Vec{Buf: x, Stride: cols}, gb, Vec{Buf: xb, Stride: cols}, cols, 1e-5, w, false)
					},
					func() error {
						return o.Linear(ctx, p, w, Vec{Buf: xb, Stride: cols}, Vec{Buf: y, Stride: 3 * rows}, false, false)
					},
					func() error {
						return o.Linear(ctx, p, ow, Vec{Buf: xb, Stride: cols}, Vec{Buf: y, Off: rows, Stride: 3 * rows}, false, false)
					},
					func() error { return o.SwiGLUFor(ctx, p, hb, cols, 2*cols, w, false) },
					func() error {
						return o.Linear(ctx, p, w, Vec{Buf: hb, Stride: 2 * cols}, Vec{Buf: y, Off: 2 * rows, Stride: 3 * rows}, false, false)
					},
				}
				for _, s := range steps {
					if err := s(); err != nil {
						return err
					}
				}
				dispatches = p.Dispatches(n, 0)
				return nil
			})
			if dispatches != 5 { // norm+layout, matvec, direct matvec, swiglu+layout, matvec
				t.Errorf("%d dispatches, want 5", dispatches)
			}
			got := readF32(t, y, 3*n*rows)
			for k, c := range []struct {
				typ  kernels.DType
				data []byte
				in   []float32
			}{{typ, data, normed}, {other, odata, normed}, {typ, data, act}} {
				for i := range n {
					want := make([]float32, rows)
					in := c.in[i*cols : (i+1)*cols]
					if err := kernels.MatMulRows(c.typ, c.data, cols, 0, rows, in, 1, want); err != nil {
						t.Fatal(err)
					}
					at := i*3*rows + k*rows
					closeTo(t, fmt.Sprintf("matvec %d, vector %d", k, i), got[at:at+rows], want, absDots(t, c.typ, c.data, rows, cols, in, 1), matvecTol)
				}
			}
		})
	}
}

// TestMatVecGGMLVectors runs the matvec of every type over ggml's own
// quantizer output (testdata/ggml/quant-vectors.gguf, FORMATS.txt: 6 rows
// of 512 values, among them outliers, zeros, values near 1e-6 and fp16's
// extremes) and holds it to ggml's dequantization of the same bytes dotted
// with x in float64, at the matvec tolerance: the block layouts as ggml
// writes them, not only as the Go quantizer does; Q4_K and Q5_K with each
// unit.
// Under Node.js only: a browser tab has no file system to read them from.
func TestMatVecGGMLVectors(t *testing.T) {
	// wasm_exec.js stubs process in a page; Node.js has process.versions.
	if p := js.Global().Get("process"); p.IsUndefined() || p.Get("versions").IsUndefined() {
		t.Skip("a browser tab has no file system (make test-gpu-node reads the vectors)")
	}
	f, osf, err := gguf.Open("../testdata/ggml/quant-vectors.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	read := func(name string) []byte {
		t.Helper()
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		data, err := f.ReadTensor(osf, ti)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	rows, cols, n := 6, 512, 3
	xs := randVec(rand.New(rand.NewPCG(5, 6)), n*cols, 1)
	for _, typ := range wgsl.Types() {
		units := []int{wgsl.KUnit}
		if typ == kernels.Q4_K || typ == kernels.Q5_K {
			units = []int{64, 128, 256}
		}
		for _, unit := range units {
			name := typ.String()
			if len(units) > 1 {
				name += fmt.Sprintf("/unit%d", unit)
			}
			t.Run(name, func(t *testing.T) {
				withKUnit(t, unit, func() {
					data := read(typ.String() + ".q")
					deq := read(typ.String() + ".deq")
					want, bound := make([]float32, n*rows), make([]float32, n*rows)
					for i := range n {
						for r := range rows {
							var s, b float64
							for j := range cols {
								p := float64(math.Float32frombits(binary.LittleEndian.Uint32(deq[4*(r*cols+j):]))) * float64(xs[i*cols+j])
								s, b = s+p, b+math.Abs(p)
							}
							want[i*rows+r], bound[i*rows+r] = float32(s), float32(b)
						}
					}
					w, err := dev.UploadWeights(typ, rows, cols, data, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer w.Destroy()
					x, y := storage(t, xs, 0), storage(t, nil, n*rows)
					program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error {
						o.Batch = n
						return o.Linear(ctx, p, w, Vec{Buf: x, Stride: cols}, Vec{Buf: y, Stride: rows}, false, false)
					})
					closeTo(t, "y", readF32(t, y, n*rows), want, bound, matvecTol)
				})
			})
		}
	}
}
