//go:build js && wasm

package gpu

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/seeded"
)

// TestGenerateWeights holds the generate kernel to package model/seeded:
// every type, split and GGUF layouts, rows that are not whole words, and
// tensors cut into several chunks give exactly the bytes a reader of the
// file gets, in the GPU's layout.
func TestGenerateWeights(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		typ        kernels.DType
		rows, cols int
		maxChunk   int64
	}{
		{kernels.Q4_0, 37, 512, 4 << 10}, // split
		{kernels.Q4_0, 9, 96, 0},         // rows of 54 bytes, not split
		{kernels.Q8_0, 21, 256, 2 << 10}, // split
		{kernels.Q4_K, 13, 512, 1 << 10},
		{kernels.Q6_K, 11, 256, 1 << 10}, // rows of 210 bytes
		{kernels.Q6_K, 9, 2048, 4 << 10}, // split, its scale last in a block
		{kernels.Q3_K, 7, 1024, 0},
		{kernels.Q2_K, 9, 256, 0},
		{kernels.F16, 5, 300, 0},
		{kernels.F32, 6, 64, 512},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%dx%d", c.typ, c.rows, c.cols), func(t *testing.T) {
			ti := &gguf.TensorInfo{Name: "blk.3.attn_q.weight", Type: c.typ, Dims: []uint64{uint64(c.cols), uint64(c.rows)}}
			ti.Size = ti.RowBytes() * ti.Rows()
			want := make([]byte, ti.Size)
			if err := seeded.Rows(want, ti, 77, 0, ti.Rows()); err != nil {
				t.Fatal(err)
			}
			w, err := dev.NewWeights(c.typ, c.rows, c.cols, c.maxChunk)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Destroy()
			if err := dev.generate(ctx, w, 0, w.Rows, ti, 77); err != nil {
				t.Fatal(err)
			}
			if w.Split {
				if want, err = w.layout(want); err != nil {
					t.Fatal(err)
				}
			}
			for i, ch := range w.Chunks {
				got := make([]byte, ch.BufferBytes())
				if err := dev.Read(ctx, w.Buffers[i], 0, got); err != nil {
					t.Fatal(err)
				}
				part := want[int64(ch.RowBegin)*w.RowBytes : int64(ch.RowEnd)*w.RowBytes]
				if !bytes.Equal(got[:len(part)], part) {
					t.Fatalf("chunk %d of %d (split %v): bytes differ from model/seeded's", i, len(w.Chunks), w.Split)
				}
				if !bytes.Equal(got[len(part):], make([]byte, len(got)-len(part))) {
					t.Fatalf("chunk %d: padding is not zero", i)
				}
			}
		})
	}
}

// TestGenerateStacked generates two tensors into one Weights, the second's
// rows after the first's, in chunks that cut across both: each chunk holds
// exactly the rows a reader of the file gets, in the GPU's layout.
func TestGenerateStacked(t *testing.T) {
	ctx := context.Background()
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K} {
		t.Run(typ.String(), func(t *testing.T) {
			cols, rows := 512, []int{37, 21}
			w, err := dev.NewWeights(typ, rows[0]+rows[1], cols, 5<<10)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Destroy()
			var want []byte
			at := 0
			for i, n := range rows {
				ti := &gguf.TensorInfo{Name: fmt.Sprintf("blk.0.t%d.weight", i), Type: typ, Dims: []uint64{uint64(cols), uint64(n)}}
				ti.Size = ti.RowBytes() * ti.Rows()
				part := make([]byte, ti.Size)
				if err := seeded.Rows(part, ti, 9, 0, ti.Rows()); err != nil {
					t.Fatal(err)
				}
				if part, err = w.layout(part); err != nil {
					t.Fatal(err)
				}
				want = append(want, part...)
				if err := dev.generate(ctx, w, at, n, ti, 9); err != nil {
					t.Fatal(err)
				}
				at += n
			}
			if len(w.Chunks) < 3 {
				t.Fatalf("%d chunks: the test wants chunks across both tensors", len(w.Chunks))
			}
			for i, ch := range w.Chunks {
				got := make([]byte, ch.BufferBytes())
				if err := dev.Read(ctx, w.Buffers[i], 0, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[:ch.Bytes], want[int64(ch.RowBegin)*w.RowBytes:int64(ch.RowEnd)*w.RowBytes]) {
					t.Fatalf("chunk %d (rows [%d,%d)): bytes differ from model/seeded's", i, ch.RowBegin, ch.RowEnd)
				}
			}
		})
	}
}
