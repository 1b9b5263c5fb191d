package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// FuzzRead holds Read to its contract on any input: no panic; a failure is
// a *FormatError with an offset inside the input; a success has every
// tensor's bytes inside the file, non-overlapping and of the size its type
// and shape need, and survives a rewrite with the same metadata and index.
func FuzzRead(f *testing.F) {
	for _, v := range []uint32{1, 2, 3} {
		f.Add(sampleBytes(f, v))
	}
	f.Add(deep(MaxDepth))
	f.Add(newRaw(3, 2, 0).tensor("a", kernels.F32, 0, 8).tensor("b", kernels.Q8_0, 32, 32).data(96))
	f.Add(newRaw(1, 1, 1).kv(KeyAlignment, TypeUint32).u32(64).tensor("a", kernels.F16, 0, 2, 2).data(8))
	for _, rel := range []string{storiesV1, storiesV3, quantVectors, quantMatvec} {
		if b := testHead(rel, 4<<10); b != nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > int64(len(b)) {
				t.Fatalf("error without a valid offset: %v", err)
			}
			return
		}
		checkIndex(t, file, b)
		if file.Alignment <= 4096 {
			checkRewrite(t, file, b)
		}
	})
}

// checkIndex asserts the tensor index of a successfully read file.
func checkIndex(t *testing.T, f *File, b []byte) {
	var prevEnd int64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Offset < f.DataOffset || ti.Size <= 0 || ti.End() > f.Size || ti.Offset%f.Alignment != 0 {
			t.Fatalf("tensor %q at [%d, %d) outside data [%d, %d)", ti.Name, ti.Offset, ti.End(), f.DataOffset, f.Size)
		}
		if ti.RowBytes()*ti.Rows() != ti.Size {
			t.Fatalf("tensor %q: %d rows of %d bytes in %d", ti.Name, ti.Rows(), ti.RowBytes(), ti.Size)
		}
		if got, ok := f.Tensor(ti.Name); !ok || got != ti {
			t.Fatalf("lookup of %q", ti.Name)
		}
		data, err := f.ReadTensor(bytes.NewReader(b), ti)
		if err != nil || !bytes.Equal(data, b[ti.Offset:ti.End()]) {
			t.Fatalf("ReadTensor(%q): %v", ti.Name, err)
		}
		if ti.Offset < prevEnd && i > 0 && f.Tensors[i-1].Offset <= ti.Offset {
			t.Fatalf("tensor %q overlaps its predecessor", ti.Name)
		}
		prevEnd = ti.End()
	}
	for _, kv := range f.KV {
		if v, ok := f.Lookup(kv.Key); !ok || !v.Equal(kv.Value) {
			t.Fatalf("lookup of %q", kv.Key)
		}
	}
}

// checkRewrite writes f again and reads it back.
func checkRewrite(t *testing.T, f *File, b []byte) {
	w, err := rewrite(f, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		t.Fatalf("write: %v", err)
	}
	again, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	sameHeader(t, f, again)
}

// testHead returns the first n bytes of a committed test file, or nil.
func testHead(rel string, n int) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		return nil
	}
	return b[:min(n, len(b))]
}
