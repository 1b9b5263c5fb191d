package kernels_test

import (
	"encoding/binary"
	"math"
	"sync"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/gguf"
)

// The test vectors generated with ggml; see FORMATS.txt beside them.
const (
	vectorsPath = "../testdata/ggml/quant-vectors.gguf"
	matvecPath  = "../testdata/ggml/quant-matvec.gguf"
)

// vectorFile is one test-vector file read whole into memory.
type vectorFile struct {
	cols, rows int
	tensors    map[string]vectorTensor
}

// vectorTensor is one tensor of a vectorFile.
type vectorTensor struct {
	typ  kernels.DType
	dims []uint64
	data []byte
}

var (
	vectorsOnce, matvecOnce sync.Once
	vectors, matvec         *vectorFile
	vectorsErr, matvecErr   error
)

// loadVectors returns quant-vectors.gguf (512 columns × 6 rows).
func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	vectorsOnce.Do(func() { vectors, vectorsErr = readVectorFile(vectorsPath) })
	if vectorsErr != nil {
		t.Fatal(vectorsErr)
	}
	return vectors
}

// loadMatVec returns quant-matvec.gguf (1024 columns × 64 rows).
func loadMatVec(t testing.TB) *vectorFile {
	t.Helper()
	matvecOnce.Do(func() { matvec, matvecErr = readVectorFile(matvecPath) })
	if matvecErr != nil {
		t.Fatal(matvecErr)
	}
	return matvec
}

func readVectorFile(path string) (*vectorFile, error) {
	f, osf, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer osf.Close()
	cols, err := f.Uint("test.cols")
	if err != nil {
		return nil, err
	}
	rows, err := f.Uint("test.rows")
	if err != nil {
		return nil, err
	}
	vf := &vectorFile{cols: int(cols), rows: int(rows), tensors: map[string]vectorTensor{}}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, err := f.ReadTensor(osf, ti)
		if err != nil {
			return nil, err
		}
		vf.tensors[ti.Name] = vectorTensor{typ: ti.Type, dims: ti.Dims, data: data}
	}
	return vf, nil
}

// raw returns the bytes of the named tensor, which must have type want.
func (vf *vectorFile) raw(t testing.TB, name string, want kernels.DType) []byte {
	t.Helper()
	vt, ok := vf.tensors[name]
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	if vt.typ != want {
		t.Fatalf("tensor %q is %v, want %v", name, vt.typ, want)
	}
	return vt.data
}

// floats returns the named F32 tensor's values.
func (vf *vectorFile) floats(t testing.TB, name string) []float32 {
	t.Helper()
	return bytesToFloats(vf.raw(t, name, kernels.F32))
}

func bytesToFloats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// allTypes are the types with a codec, as the vectors name them.
func allTypes() []kernels.DType { return kernels.DTypes() }

// mustCodec returns t's codec or fails the test.
func mustCodec(tb testing.TB, t kernels.DType) *kernels.Codec {
	tb.Helper()
	c, err := t.Codec()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// rowBytes is t's row size for cols values, failing the test on error.
func rowBytes(tb testing.TB, t kernels.DType, cols int) int {
	tb.Helper()
	n, err := t.RowBytes(int64(cols))
	if err != nil {
		tb.Fatal(err)
	}
	return int(n)
}

// quantizeRows quantizes rows×cols values row by row.
func quantizeRows(tb testing.TB, t kernels.DType, src []float32, cols int) []byte {
	tb.Helper()
	rb := rowBytes(tb, t, cols)
	rows := len(src) / cols
	out := make([]byte, rows*rb)
	c := mustCodec(tb, t)
	for r := range rows {
		c.Quantize(out[r*rb:(r+1)*rb], src[r*cols:(r+1)*cols])
	}
	return out
}

// dequantizeRows dequantizes whole rows of cols values.
func dequantizeRows(tb testing.TB, t kernels.DType, src []byte, cols int) []float32 {
	tb.Helper()
	rb := rowBytes(tb, t, cols)
	rows := len(src) / rb
	out := make([]float32, rows*cols)
	c := mustCodec(tb, t)
	for r := range rows {
		c.Dequantize(out[r*cols:(r+1)*cols], src[r*rb:(r+1)*rb])
	}
	return out
}

// rowRMSE is the root-mean-square difference of a and b, per row of cols.
func rowRMSE(a, b []float32, cols int) []float64 {
	out := make([]float64, len(a)/cols)
	for r := range out {
		var s float64
		for j := r * cols; j < (r+1)*cols; j++ {
			d := float64(a[j]) - float64(b[j])
			s += d * d
		}
		out[r] = math.Sqrt(s / float64(cols))
	}
	return out
}

// refDot is the dot product summed in float64 in order, as the vectors'
// y tensors were made.
func refDot(a, x []float32) float32 {
	var acc float64
	for j, v := range a {
		acc += float64(v) * float64(x[j])
	}
	return float32(acc)
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
