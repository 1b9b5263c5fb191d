package kernels_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// searchTypes are the types whose quantizer searches for scales. The
// brief holds them only to ggml's error; they give its bytes as well.
var searchTypes = []kernels.DType{
	kernels.Q2_K, kernels.Q3_K, kernels.Q4_K, kernels.Q5_K, kernels.Q6_K,
	kernels.IQ4_NL, kernels.IQ4_XS,
}

// TestDequantizeVectors checks that every <type>.q decodes to exactly
// <type>.deq, signed zeros included.
func TestDequantizeVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			q := vf.raw(t, typ.String()+".q", typ)
			want := vf.floats(t, typ.String()+".deq")
			got := dequantizeRows(t, typ, q, vf.cols)
			assertSameBits(t, got, want, vf.cols)
		})
	}
	t.Run("IQ4_NL.rowref", func(t *testing.T) {
		q := vf.raw(t, "IQ4_NL.q_rowref", kernels.IQ4_NL)
		got := dequantizeRows(t, kernels.IQ4_NL, q, vf.cols)
		assertSameBits(t, got, vf.floats(t, "IQ4_NL.deq_rowref"), vf.cols)
	})
}

// assertSameBits fails on the first few values whose bits differ.
func assertSameBits(t *testing.T, got, want []float32, cols int) {
	t.Helper()
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("row %d col %d: got %g (%#08x), want %g (%#08x)", i/cols, i%cols,
					got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(want))
	}
}

// TestQuantizeExact checks that quantizing source gives ggml's bytes for
// every type, and quantizing w_source gives the matvec file's weights.
func TestQuantizeExact(t *testing.T) {
	vf, mv := loadVectors(t), loadMatVec(t)
	src, wsrc := vf.floats(t, "source"), mv.floats(t, "w_source")
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			want := vf.raw(t, typ.String()+".q", typ)
			assertSameBytes(t, quantizeRows(t, typ, src, vf.cols), want, typ)
			if _, ok := mv.tensors[typ.String()+".w"]; ok {
				want := mv.raw(t, typ.String()+".w", typ)
				assertSameBytes(t, quantizeRows(t, typ, wsrc, mv.cols), want, typ)
			}
		})
	}
}

// assertSameBytes reports the blocks that differ.
func assertSameBytes(t *testing.T, got, want []byte, typ kernels.DType) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	l, _ := typ.Layout()
	bad := 0
	for b := 0; b < len(want); b += l.BlockBytes {
		if !bytes.Equal(got[b:b+l.BlockBytes], want[b:b+l.BlockBytes]) {
			if bad < 3 {
				t.Errorf("block %d: got % x\nwant % x", b/l.BlockBytes, got[b:b+l.BlockBytes], want[b:b+l.BlockBytes])
			}
			bad++
		}
	}
	t.Errorf("%d of %d blocks differ", bad, len(want)/l.BlockBytes)
}

// TestQuantizeSearchTypes holds the K-quant and IQ4 quantizers to ggml's
// error: no worse on average over rows, at most 5% worse on any row, for
// the vectors' source and (where ggml's output is stored) w_source.
func TestQuantizeSearchTypes(t *testing.T) {
	vf, mv := loadVectors(t), loadMatVec(t)
	src, wsrc := vf.floats(t, "source"), mv.floats(t, "w_source")
	for _, typ := range searchTypes {
		t.Run(typ.String(), func(t *testing.T) {
			mine := quantizeRows(t, typ, src, vf.cols)
			ggml := vf.raw(t, typ.String()+".q", typ)
			compareRMSE(t, "source", typ, src, mine, ggml, vf.cols)
			if _, ok := mv.tensors[typ.String()+".w"]; ok {
				mine := quantizeRows(t, typ, wsrc, mv.cols)
				compareRMSE(t, "w_source", typ, wsrc, mine, mv.raw(t, typ.String()+".w", typ), mv.cols)
			}
		})
	}
}

// compareRMSE checks mine against ggml's quantization of src row by row.
func compareRMSE(t *testing.T, what string, typ kernels.DType, src []float32, mine, ggml []byte, cols int) {
	t.Helper()
	a := rowRMSE(dequantizeRows(t, typ, mine, cols), src, cols)
	b := rowRMSE(dequantizeRows(t, typ, ggml, cols), src, cols)
	for r := range a {
		if a[r] > 1.05*b[r] {
			t.Errorf("%s row %d: RMSE %.6g, ggml %.6g", what, r, a[r], b[r])
		}
	}
	if mean(a) > mean(b) {
		t.Errorf("%s: mean row RMSE %.6g, ggml %.6g", what, mean(a), mean(b))
	}
	t.Logf("%s: mean row RMSE %.6g, ggml %.6g, same bytes: %v", what, mean(a), mean(b), bytes.Equal(mine, ggml))
}
