//go:build js && wasm

package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// A tensor stacked at a row of a chunked buffer is cut into pieces that
// cover its rows once, in order, each at its byte offset in its chunk and
// none larger than uploadPiece.
func TestWeightPieces(t *testing.T) {
	const rowBytes = 1 << 20
	chunks, err := PlanChunks(40, rowBytes, 16*rowBytes)
	if err != nil {
		t.Fatal(err)
	}
	w := &Weights{Rows: 40, RowBytes: rowBytes, Chunks: chunks}
	at, rows := 5, 30
	next := 0
	for _, p := range w.pieces(at, rows) {
		c := w.Chunks[p.chunk]
		if p.row != next || p.n <= 0 || int64(p.n)*rowBytes > uploadPiece {
			t.Fatalf("piece %+v after row %d", p, next)
		}
		if at+p.row < c.RowBegin || at+p.row+p.n > c.RowEnd || p.off != int64(at+p.row-c.RowBegin)*rowBytes {
			t.Fatalf("piece %+v outside chunk %+v", p, c)
		}
		next += p.n
	}
	if next != rows {
		t.Fatalf("pieces cover %d rows, want %d", next, rows)
	}
}

// A tensor of a type no kernel reads is refused before any buffer is
// made, with the type named; the types of the planar int8 path are
// taken.
func TestWeightsRefuseUnsupportedTypes(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.BF16} {
		w, err := dev.NewWeights(typ, 4, 256, 0)
		if !errors.Is(err, wgsl.ErrUnsupported) || w != nil || !strings.Contains(err.Error(), typ.String()) {
			t.Errorf("%s: %v, %v; want ErrUnsupported naming it", typ, w, err)
		}
	}
	for _, typ := range []kernels.DType{kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS} {
		w, err := dev.NewWeights(typ, 4, 256, 0)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		w.Destroy()
	}
}
