package gguf

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// testFile is the path of a file of the repository's test data (models,
// ggml vectors). A missing file fails the test: these files are committed.
func testFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test file: %v", err)
	}
	return p
}

const (
	storiesV1    = "testdata/stories260K/stories260K-f32.v1.gguf"
	storiesV3    = "model/bundled/stories260K.gguf"
	quantVectors = "testdata/ggml/quant-vectors.gguf"
	quantMatvec  = "testdata/ggml/quant-matvec.gguf"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRead(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sampleKVs holds every value type, arrays of every element type, empty
// and nested arrays.
func sampleKVs() []KV {
	kvs := []KV{
		{"u8", Uint8(200)},
		{"i8", Int8(-5)},
		{"u16", Uint16(65000)},
		{"i16", Int16(-30000)},
		{"u32", Uint32(4000000000)},
		{"i32", Int32(-2000000000)},
		{"f32", Float32(1.5)},
		{"bool", Bool(true)},
		{"str", String("héllo\x00world")},
		{"u64", Uint64(1<<63 + 5)},
		{"i64", Int64(-1 << 62)},
		{"f64", Float64(math.Pi)},
		{"empty.str", String("")},
		{"arr.str", Strings([]string{"a", "", "ccc"})},
		{"arr.f32", Float32s([]float32{0.5, -2, float32(math.Inf(1))})},
		{"arr.i32", Int32s([]int32{-1, 0, 1})},
		{"arr.u32", Uint32s([]uint32{1, 2, 3})},
		{"arr.empty", Array(TypeFloat64)},
		{"arr.nested", Array(TypeArray,
			Array(TypeInt16, Int16(-1), Int16(2)),
			Strings([]string{"x"}),
			Array(TypeArray, Array(TypeUint64, Uint64(7))),
			Array(TypeBool),
		)},
	}
	scalars := []Value{Uint8(1), Int8(-1), Uint16(2), Int16(-2), Uint32(3), Int32(-3),
		Float32(float32(math.Copysign(0, -1))), Bool(false), String("s"), Uint64(4), Int64(-4), Float64(math.NaN())}
	for _, s := range scalars {
		kvs = append(kvs, KV{"arr.of." + s.Type().String(), Array(s.Type(), s, s)})
	}
	return kvs
}

type sampleTensor struct {
	name string
	typ  kernels.DType
	dims []uint64
	data []byte // nil: zeros
}

func sampleTensors() []sampleTensor {
	return []sampleTensor{
		{"a", kernels.F32, []uint64{4, 2}, seq(32)},
		{"blk.0.q", kernels.Q4_0, []uint64{32, 3}, seq(54)},
		{"zero", kernels.F16, []uint64{8}, nil},
		{"k", kernels.Q4_K, []uint64{256, 1, 1, 2}, seq(288)},
	}
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// sampleWriter builds the sample file for a version.
func sampleWriter(t testing.TB, version uint32) *Writer {
	t.Helper()
	w := NewWriter()
	check(t, w.SetVersion(version))
	for _, kv := range sampleKVs() {
		check(t, w.Add(kv.Key, kv.Value))
	}
	for _, s := range sampleTensors() {
		if s.data == nil {
			check(t, w.AddZeroTensor(s.name, s.typ, s.dims))
		} else {
			check(t, w.AddTensorBytes(s.name, s.typ, s.dims, s.data))
		}
	}
	return w
}

func sampleBytes(t testing.TB, version uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sampleWriter(t, version).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rewrite makes a Writer that writes f again, reading tensor data from r.
func rewrite(f *File, r io.ReaderAt) (*Writer, error) {
	w := NewWriter()
	if err := w.SetVersion(f.Version); err != nil {
		return nil, err
	}
	for _, kv := range f.KV {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for i := range f.Tensors {
		t := f.Tensors[i]
		err := w.AddTensor(t.Name, t.Type, t.Dims, func(dst io.Writer) error {
			_, err := io.Copy(dst, io.NewSectionReader(r, t.Offset, t.Size))
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// sameHeader reports the first difference between two files' metadata and
// tensor index, ignoring offsets.
func sameHeader(t testing.TB, a, b *File) {
	t.Helper()
	if len(a.KV) != len(b.KV) {
		t.Fatalf("%d KVs vs %d", len(a.KV), len(b.KV))
	}
	for i := range a.KV {
		if a.KV[i].Key != b.KV[i].Key || !a.KV[i].Value.Equal(b.KV[i].Value) {
			t.Fatalf("kv %d: %s=%v vs %s=%v", i, a.KV[i].Key, a.KV[i].Value, b.KV[i].Key, b.KV[i].Value)
		}
	}
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors vs %d", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		x, y := a.Tensors[i], b.Tensors[i]
		if x.Name != y.Name || x.Type != y.Type || x.Size != y.Size || !slices.Equal(x.Dims, y.Dims) {
			t.Fatalf("tensor %d: %+v vs %+v", i, x, y)
		}
	}
}
