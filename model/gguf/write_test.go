package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// Every value type, nested arrays and tensors survive write → read in each
// version, and writing what was read gives the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, version := range []uint32{1, 2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			b := sampleBytes(t, version)
			f := mustRead(t, b)
			if f.Version != version || f.Size != int64(len(b)) || f.Size%32 != 0 {
				t.Fatalf("version %d size %d", f.Version, f.Size)
			}
			want := sampleKVs()
			for i, kv := range want {
				got := f.KV[i]
				if got.Key != kv.Key || !got.Value.Equal(kv.Value) {
					t.Errorf("kv %d: got %s=%v, want %s=%v", i, got.Key, got.Value, kv.Key, kv.Value)
				}
			}
			for i, s := range sampleTensors() {
				ti := &f.Tensors[i]
				data, err := f.ReadTensor(bytes.NewReader(b), ti)
				check(t, err)
				if s.data == nil {
					s.data = make([]byte, ti.Size)
				}
				if ti.Name != s.name || ti.Type != s.typ || !bytes.Equal(data, s.data) || ti.Offset%32 != 0 {
					t.Errorf("tensor %d: %+v", i, ti)
				}
			}
			w, err := rewrite(f, bytes.NewReader(b))
			check(t, err)
			var again bytes.Buffer
			_, err = w.WriteTo(&again)
			check(t, err)
			if !bytes.Equal(again.Bytes(), b) {
				t.Error("rewriting the file changed its bytes")
			}
		})
	}
}

// Writing stories260K's metadata and tensors back out reproduces both files
// byte for byte: they were written in ggml's layout (tensors packed in info
// order, each padded to 32, no general.alignment key).
func TestStoriesRewriteExact(t *testing.T) {
	for _, rel := range []string{storiesV3, storiesV1} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			b := readFile(t, testFile(t, rel))
			w, err := rewrite(mustRead(t, b), bytes.NewReader(b))
			check(t, err)
			var out bytes.Buffer
			n, err := w.WriteTo(&out)
			check(t, err)
			if n != int64(len(b)) || !bytes.Equal(out.Bytes(), b) {
				t.Fatalf("rewritten file differs (%d bytes vs %d)", n, len(b))
			}
		})
	}
}

// The v1 file rewritten as v3 equals the v3 file.
func TestStoriesV1ToV3(t *testing.T) {
	b1 := readFile(t, testFile(t, storiesV1))
	b3 := readFile(t, testFile(t, storiesV3))
	w, err := rewrite(mustRead(t, b1), bytes.NewReader(b1))
	check(t, err)
	check(t, w.SetVersion(3))
	var out bytes.Buffer
	_, err = w.WriteTo(&out)
	check(t, err)
	if !bytes.Equal(out.Bytes(), b3) {
		t.Fatal("v1 rewritten as v3 differs from the v3 file")
	}
}

func TestAlignment(t *testing.T) {
	w := NewWriter()
	check(t, w.Add("a", Uint8(1)))
	check(t, w.SetAlignment(64))
	check(t, w.AddTensorBytes("t", kernels.F32, []uint64{3}, seq(12)))
	check(t, w.AddTensorBytes("u", kernels.F32, []uint64{3}, seq(12)))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	check(t, err)
	f := mustRead(t, buf.Bytes())
	if f.Alignment != 64 || f.DataOffset%64 != 0 || f.Tensors[1].Offset-f.Tensors[0].Offset != 64 || f.Size%64 != 0 {
		t.Fatalf("alignment %d data %d offsets %d %d size %d", f.Alignment, f.DataOffset, f.Tensors[0].Offset, f.Tensors[1].Offset, f.Size)
	}
	if a, err := f.Uint(KeyAlignment); err != nil || a != 64 {
		t.Fatalf("general.alignment = %d, %v", a, err)
	}
}

func TestWriterErrors(t *testing.T) {
	tooFew := func(w io.Writer) error { _, err := w.Write(make([]byte, 4)); return err }
	tooMany := func(w io.Writer) error { _, err := w.Write(make([]byte, 20)); return err }
	failing := func(w io.Writer) error { return errors.New("source broke") }
	tests := []struct {
		name  string
		build func(w *Writer) error
		want  error
		msg   string
	}{
		{"duplicate key", func(w *Writer) error { w.Add("k", Uint8(1)); return w.Add("k", Uint8(2)) }, ErrDuplicate, `"k"`},
		{"duplicate tensor", func(w *Writer) error {
			w.AddZeroTensor("t", kernels.F32, []uint64{1})
			return w.AddZeroTensor("t", kernels.F32, []uint64{1})
		}, ErrDuplicate, `"t"`},
		{"bytes size", func(w *Writer) error { return w.AddTensorBytes("t", kernels.F32, []uint64{4}, seq(15)) }, ErrTensorSize, `"t"`},
		{"unknown type", func(w *Writer) error { return w.AddZeroTensor("t", kernels.DType(4), []uint64{32}) }, kernels.ErrUnknownType, `"t"`},
		{"row length", func(w *Writer) error { return w.AddZeroTensor("t", kernels.Q8_0, []uint64{33}) }, kernels.ErrRowLength, `"t"`},
		{"five dims", func(w *Writer) error { return w.AddZeroTensor("t", kernels.F32, []uint64{1, 1, 1, 1, 1}) }, ErrShape, `"t"`},
		{"zero dim", func(w *Writer) error { return w.AddZeroTensor("t", kernels.F32, []uint64{4, 0}) }, ErrShape, `"t"`},
		{"overflow", func(w *Writer) error { return w.AddZeroTensor("t", kernels.F32, []uint64{1 << 40, 1 << 40}) }, ErrShape, `"t"`},
		{"mixed array", func(w *Writer) error { return w.Add("k", Array(TypeUint8, Uint8(1), Int8(1))) }, ErrValue, `"k"`},
		{"array of bad type", func(w *Writer) error { return w.Add("k", Array(ValueType(13))) }, ErrValueType, `"k"`},
		{"too deep", func(w *Writer) error { return w.Add("k", nest(MaxDepth+1)) }, ErrTooDeep, `"k"`},
		{"alignment type", func(w *Writer) error { return w.Add(KeyAlignment, Uint64(32)) }, ErrKeyType, KeyAlignment},
		{"alignment value", func(w *Writer) error { return w.SetAlignment(48) }, ErrAlignment, "48"},
		{"version", func(w *Writer) error { return w.SetVersion(4) }, ErrVersion, "4"},
		{"short source", func(w *Writer) error { return w.AddTensor("t", kernels.F32, []uint64{4}, tooFew) }, ErrTensorSize, `"t"`},
		{"long source", func(w *Writer) error { return w.AddTensor("t", kernels.F32, []uint64{4}, tooMany) }, ErrTensorSize, `"t"`},
		{"failing source", func(w *Writer) error { return w.AddTensor("t", kernels.F32, []uint64{4}, failing) }, nil, "source broke"},
		{"v1 dims", func(w *Writer) error {
			w.SetVersion(1)
			return w.AddZeroTensor("t", kernels.F32, []uint64{1 << 33})
		}, nil, "32 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter()
			err := tt.build(w)
			if err == nil { // some errors only show when writing
				_, err = w.WriteTo(io.Discard)
			} else if _, werr := w.WriteTo(io.Discard); werr != err {
				t.Errorf("WriteTo after a failed Add returned %v", werr)
			}
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v mentioning %s", err, tt.want, tt.msg)
			}
		})
	}
}

// nest builds arrays nested depth levels deep.
func nest(depth int) Value {
	v := Array(TypeUint8, Uint8(1))
	for range depth - 1 {
		v = Array(TypeArray, v)
	}
	return v
}

// A zero tensor written to a file reads back as zeros, and the file has the
// right size even though its end is a hole.
func TestZeroTensorFile(t *testing.T) {
	w := NewWriter()
	check(t, w.Add("general.name", String("zeros")))
	check(t, w.AddTensorBytes("small", kernels.F32, []uint64{2}, seq(8)))
	check(t, w.AddZeroTensor("big", kernels.Q8_0, []uint64{4096, 512}))
	path := filepath.Join(t.TempDir(), "z.gguf")
	check(t, w.WriteFile(path))
	f, osf, err := Open(path)
	check(t, err)
	defer osf.Close()
	big, _ := f.Tensor("big")
	st, err := osf.Stat()
	check(t, err)
	if st.Size() != f.Size || big.End() != f.Size {
		t.Fatalf("file %d bytes, tensor ends at %d", st.Size(), big.End())
	}
	rows, err := f.ReadRows(osf, big, 500, 512)
	check(t, err)
	if !bytes.Equal(rows, make([]byte, len(rows))) {
		t.Fatal("zero tensor has nonzero bytes")
	}
	small, _ := f.Tensor("small")
	data, err := f.ReadTensor(osf, small)
	check(t, err)
	if !bytes.Equal(data, seq(8)) {
		t.Fatal("small tensor differs")
	}
}

// Writing through an io.Writer that is not a file writes zeros literally,
// and gives the same bytes as the sparse file.
func TestZeroTensorStream(t *testing.T) {
	w := NewWriter()
	check(t, w.AddZeroTensor("z", kernels.F32, []uint64{1 << 16}))
	check(t, w.AddTensorBytes("after", kernels.F32, []uint64{1}, seq(4)))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	check(t, err)
	path := filepath.Join(t.TempDir(), "z.gguf")
	check(t, w.WriteFile(path))
	if !bytes.Equal(buf.Bytes(), readFile(t, path)) {
		t.Fatal("file and stream differ")
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Int8(-3), "-3"},
		{Uint64(math.MaxUint64), "18446744073709551615"},
		{Float32(0.1), "0.1"},
		{Bool(false), "false"},
		{String(`a"b`), `"a\"b"`},
		{Array(TypeArray, Int32s([]int32{1, -2})), "[[1, -2]]"},
		{Uint32s(make([]uint32, 10)), "[0, 0, 0, 0, 0, 0, 0, 0, … (10 elements)]"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

func TestWriteFileRemovesPartial(t *testing.T) {
	w := NewWriter()
	check(t, w.AddTensor("t", kernels.F32, []uint64{4}, func(io.Writer) error { return errors.New("boom") }))
	path := filepath.Join(t.TempDir(), "bad.gguf")
	if err := w.WriteFile(path); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial file left: %v", err)
	}
}
