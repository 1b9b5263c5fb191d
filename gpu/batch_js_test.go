//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// TestMatVecBatchInvariance holds the batched matvec to the one-vector
// matvec bit for bit: each column of a batch of B (1, 3, 16, 17, 32), its
// neighbours random, equals that column run alone, for every type (the
// int8 planar path and the direct one), with and without accumulation,
// over several chunks, with subgroup and workgroup-memory reductions.
func TestMatVecBatchInvariance(t *testing.T) {
	types := []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q6_K, kernels.Q3_K, kernels.Q2_K, kernels.F16, kernels.F32}
	cases := []linearCase{
		{rows: 67, cols: 512, chunkRows: 30, accumulate: true},
		{rows: 40, cols: 4096}, // long rows: the matvec's RT 4, prefetching shape
	}
	for _, sub := range []bool{true, false} {
		for _, typ := range types {
			for _, c := range cases {
				name := fmt.Sprintf("%s/%dx%d/subgroups=%v", typ, c.rows, c.cols, sub)
				t.Run(name, func(t *testing.T) {
					if c.cols > 512 && (!sub || typ == kernels.F32 || typ == kernels.F16) {
						t.Skip("long rows: the planar types' shape, with subgroups")
					}
					dev.NoSubgroups = !sub
					defer func() { dev.NoSubgroups = false }()
					testBatchInvariance(t, typ, c, []int{1, 3, 16, 17, 32}, nil)
				})
			}
		}
	}
}

func testBatchInvariance(t *testing.T, typ kernels.DType, c linearCase, batches []int, setup func(*Ops)) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(typ), uint64(c.rows*c.cols)))
	data := randWeights(t, r, typ, c.rows, c.cols)
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
	most := batches[len(batches)-1]
	xs := randVec(r, most*c.cols, 1)
	init := randVec(r, most*c.rows, 1)
	run := func(x []float32, n int, noBatch bool, init []float32) []float32 {
		t.Helper()
		xb, yb := storage(t, x, 0), storage(t, init, 0)
		step := newStep(t)
		o := dev.NewOps(step)
		o.Batch = most
		o.NoBatchKernel = noBatch
		if setup != nil {
			setup(o)
		}
		defer o.Destroy()
		p := dev.NewProgram(step)
		if err := o.Linear(ctx, p, w, Vec{Buf: xb, Stride: c.cols}, Vec{Buf: yb, Stride: c.rows}, c.accumulate, false); err != nil {
			t.Fatal(err)
		}
		o.Flush()
		p.Run(n, 0)
		return readF32(t, yb, n*c.rows)
	}
	// The matvec alone: each vector of a batch has workgroups of its own,
	// run as a batch of one would (checked for the first and last).
	all := run(xs, most, true, init)
	solo := make([][]float32, most)
	for j := range most {
		solo[j] = all[j*c.rows : (j+1)*c.rows]
	}
	for _, j := range []int{0, most - 1} {
		one := run(xs[j*c.cols:(j+1)*c.cols], 1, false, init[j*c.rows:(j+1)*c.rows])
		for i, v := range one {
			if math.Float32bits(v) != math.Float32bits(solo[j][i]) {
				t.Fatalf("the matvec of vector %d alone differs from within a batch at row %d: %g, %g", j, i, v, solo[j][i])
			}
		}
	}
	for _, n := range batches {
		got := run(xs[:n*c.cols], n, false, init[:n*c.rows])
		for j := range n {
			for i, v := range got[j*c.rows : (j+1)*c.rows] {
				if math.Float32bits(v) != math.Float32bits(solo[j][i]) {
					t.Fatalf("B=%d: column %d row %d is %g (bits %08x), alone %g (%08x)", n, j, i, v, math.Float32bits(v), solo[j][i], math.Float32bits(solo[j][i]))
				}
			}
		}
	}
	// And the batch is right, not only alike: the reference within the
	// matvec tolerance.
	want := make([]float32, most*c.rows)
	if err := kernels.MatMulRows(typ, data, c.cols, 0, c.rows, xs, most, want); err != nil {
		t.Fatal(err)
	}
	bound := absDots(t, typ, data, c.rows, c.cols, xs, most)
	var got []float32
	for j := range most {
		got = append(got, solo[j]...)
		if c.accumulate {
			for i := range c.rows {
				want[j*c.rows+i] += init[j*c.rows+i]
				bound[j*c.rows+i] += abs32(init[j*c.rows+i])
			}
		}
	}
	closeTo(t, "y", got, want, bound, matvecTol)
}

// TestBatchShapes checks that the batched matvec agrees with the matvec
// in shapes other than the default: one row an invocation, few columns.
func TestBatchShapes(t *testing.T) {
	c := linearCase{rows: 45, cols: 768}
	for _, s := range []wgsl.BatchShape{
		{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 16, RT: 1}, CB: 4},
		{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 16, RT: 4}, CB: 8},
	} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			testBatchInvariance(t, kernels.Q8_0, c, []int{2, 9}, func(o *Ops) {
				o.Shape = func(int) wgsl.MatVecShape { return wgsl.MatVecShape{WG: s.WG, TPR: s.TPR, RT: 2, Prefetch: true} }
				o.BatchShape = func(wgsl.MatVecShape) wgsl.BatchShape { return s }
			})
		})
	}
}
