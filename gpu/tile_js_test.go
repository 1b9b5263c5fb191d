//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// TestI2F holds the int8 matvecs' int-to-float (i2f.wgsl) to f32(i), bit
// for bit, over all of [-2^22, 2^22] on this adapter's compiler; past
// 2^22 the bits cross into the next binade and every result is off,
// which the count sees.
func TestI2F(t *testing.T) {
	for _, c := range []struct {
		from  int32
		count uint32
		bad   uint32
	}{
		{-1 << 22, 1<<23 + 1, 0},
		{1<<22 + 1, 256, 256},
	} {
		if got := i2fMismatches(t, c.from, c.count); got != c.bad {
			t.Errorf("i2f over [%d, %d]: %d differ from f32(i), want %d", c.from, int64(c.from)+int64(c.count)-1, got, c.bad)
		}
	}
}

func i2fMismatches(t *testing.T, from int32, count uint32) uint32 {
	t.Helper()
	pl, err := dev.Pipeline(context.Background(), wgsl.I2FCheck(from, count))
	if err != nil {
		t.Fatal(err)
	}
	bad := storage(t, nil, 1)
	step := newStep(t)
	p := dev.NewProgram(step)
	groups := int(count+255) / 256
	p.add(pl, dev.BindGroup(pl, bad.Whole()), flat(func(int) int { return groups }))
	p.Run(1, 0)
	return math.Float32bits(readF32(t, bad, 1)[0])
}

// TestTileShapes: the tiled batched matvec agrees with the matvec bit for
// bit with 256 invocations a workgroup (8 rows of TPR 32 sharing each x
// unit staged), several rows an invocation, x staged in chunks of
// columns (Q4_K's 8 columns of 128-value units take 72 KiB, SwiftShader
// has 32: four chunks), the next
// chunk loaded ahead (Prefetch), x loaded by each invocation (NoStage),
// and the earlier kernel (BatchRows) too, for
// planar types of different unit sizes and a direct one. (A GPU's
// default, 4 rows × 8 columns, takes SwiftShader's compiler a minute; the
// code is the same but for the number of unrolled lines.)
func TestTileShapes(t *testing.T) {
	tile := func(wg, rt, cb int, noStage, prefetch bool) wgsl.BatchShape {
		return wgsl.BatchShape{MatVecShape: wgsl.MatVecShape{WG: wg, TPR: 32, RT: rt, Prefetch: prefetch}, CB: cb, NoStage: noStage}
	}
	for _, c := range []struct {
		typ   kernels.DType
		shape wgsl.BatchShape
	}{
		{kernels.Q4_0, tile(256, 4, 4, false, false)},
		{kernels.Q4_K, tile(256, 1, 8, false, false)}, // chunks of columns
		{kernels.Q4_K, tile(256, 1, 8, false, true)},  // chunks, each loaded ahead (a quarter of the invocations load one)
		{kernels.Q8_0, tile(64, 1, 4, false, true)},   // two elements an invocation loaded ahead
		{kernels.Q6_K, tile(256, 2, 4, true, false)},
		{kernels.F16, tile(256, 4, 4, false, false)},
		{kernels.Q4_0, wgsl.BatchShape{MatVecShape: wgsl.MatVecShape{WG: 64, TPR: 32, RT: 2}, CB: 8, Kernel: wgsl.BatchRows}},
	} {
		t.Run(fmt.Sprintf("%s/%v/WG%d/RT%d/CB%d/nostage=%v/pf=%v", c.typ, c.shape.Kernel, c.shape.WG, c.shape.RT, c.shape.CB, c.shape.NoStage, c.shape.Prefetch), func(t *testing.T) {
			lc := linearCase{rows: 45, cols: 2048, accumulate: true}
			testBatchInvariance(t, c.typ, lc, []int{9}, func(o *Ops) {
				o.Shape = func(int) wgsl.MatVecShape { return wgsl.MatVecShape{WG: 64, TPR: 32, RT: 4, Prefetch: true} }
				o.BatchShape = func(wgsl.MatVecShape) wgsl.BatchShape { return c.shape }
			})
		})
	}
}
