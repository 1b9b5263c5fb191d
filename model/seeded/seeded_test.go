package seeded_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/seeded"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

// The generator is pinned: the GPU kernel must produce these bytes too,
// and a change would silently change every seeded model.
func TestRowsGolden(t *testing.T) {
	cases := []struct {
		typ  kernels.DType
		dims []uint64
		want string
	}{
		{kernels.Q4_0, []uint64{1024, 3}, ""},
		{kernels.Q8_0, []uint64{1024, 3}, ""},
		{kernels.Q4_K, []uint64{1024, 3}, ""},
		{kernels.Q6_K, []uint64{1024, 3}, ""},
		{kernels.Q3_K, []uint64{1024, 3}, ""},
		{kernels.Q2_K, []uint64{1024, 3}, ""},
		{kernels.F16, []uint64{1024, 3}, ""},
		{kernels.F32, []uint64{1024, 3}, ""},
		{kernels.F32, []uint64{256}, ""},
		{kernels.Q6_K, []uint64{256, 3}, ""},
	}
	golden := readGolden(t)
	for _, c := range cases {
		ti := tensor(c.typ, c.dims...)
		buf := make([]byte, ti.Size)
		if err := seeded.Rows(buf, ti, 42, 0, ti.Rows()); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf)
		key := c.typ.String() + "/" + dimsString(c.dims)
		got := hex.EncodeToString(sum[:8])
		if want, ok := golden[key]; !ok || want != got {
			t.Errorf("%s: sha256 prefix %s, golden %q", key, got, golden[key])
		}
	}
}

// Every supported type dequantizes to finite values of a trained layer's
// size: mean near zero, spread within [1/1000, 1/10]; norms lie in [1,2).
func TestRowsValues(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q6_K, kernels.Q3_K, kernels.Q2_K, kernels.F16, kernels.F32} {
		ti := tensor(typ, 1024, 64)
		v := dequant(t, ti)
		var sum, sq float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%s: non-finite value", typ)
			}
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		n := float64(len(v))
		mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
		if std < 1e-3 || std > 0.1 || math.Abs(mean) > std {
			t.Errorf("%s: mean %g, std %g", typ, mean, std)
		}
	}
	for _, x := range dequant(t, tensor(kernels.F32, 4096)) {
		if x < 1 || x >= 2 {
			t.Fatalf("norm value %g outside [1,2)", x)
		}
	}
}

func TestRowsRefuses(t *testing.T) {
	if err := seeded.Rows(make([]byte, 20*32), tensor(kernels.Q5_0, 32, 32), 1, 0, 32); !errors.Is(err, seeded.ErrType) {
		t.Errorf("Q5_0: %v", err)
	}
	if err := seeded.Rows(make([]byte, 5), tensor(kernels.Q4_0, 256, 2), 1, 0, 1); err == nil {
		t.Error("short buffer accepted")
	}
}

// A seeded file reads back as its header plus generated tensors: any
// range, across tensor boundaries and gaps, equals the same bytes of a
// whole read; a model over it reads those weights, not the stored zeros,
// and generates.
func TestReaderAndModel(t *testing.T) {
	p, _ := preset.Lookup("stories260k")
	pol, _ := quantize.Parse("q8_0")
	path := filepath.Join(t.TempDir(), "s.gguf")
	if _, err := synth.WritePreset(path, p, pol, synth.WeightsSeeded, 9); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	seed, ok := seeded.Seed(f)
	if !ok || seed != 9 {
		t.Fatalf("seed %d %v", seed, ok)
	}
	r := seeded.NewReader(f, bytes.NewReader(raw), seed)
	whole := make([]byte, len(raw))
	if n, err := r.ReadAt(whole, 0); n != len(raw) || err != nil {
		t.Fatalf("whole read: %d, %v", n, err)
	}
	if !bytes.Equal(whole[:f.DataOffset], raw[:f.DataOffset]) {
		t.Fatal("header differs from the file's")
	}
	for _, ti := range f.Tensors {
		want := make([]byte, ti.Size)
		if err := seeded.Rows(want, &ti, seed, 0, ti.Rows()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(whole[ti.Offset:ti.End()], want) {
			t.Fatalf("tensor %s differs", ti.Name)
		}
	}
	for _, span := range [][2]int64{{0, 7}, {f.DataOffset - 3, 100}, {f.Tensors[1].Offset - 5, 300}, {int64(len(raw)) - 9, 9}, {13, 4097}} {
		got := make([]byte, span[1])
		if _, err := r.ReadAt(got, span[0]); err != nil {
			t.Fatalf("read %v: %v", span, err)
		}
		if !bytes.Equal(got, whole[span[0]:span[0]+span[1]]) {
			t.Fatalf("read %v differs from the whole read", span)
		}
	}
	if n, err := r.ReadAt(make([]byte, 10), int64(len(raw))-4); n != 4 || err != io.EOF {
		t.Fatalf("read past the end: %d, %v", n, err)
	}

	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if s, ok := m.Seeded(); !ok || s != 9 {
		t.Fatalf("model seed %d %v", s, ok)
	}
	q, err := m.Matrix("blk.0.attn_q.weight", p.Dim, p.Dim)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, p.Dim)
	q.DequantizeRow(row, 0)
	nonzero := 0
	for _, x := range row {
		if x != 0 && !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
			nonzero++
		}
	}
	if nonzero < p.Dim/2 {
		t.Fatalf("the model read %d finite non-zero weights of %d in a row", nonzero, p.Dim)
	}
	pl, err := worker.Load(m, 8)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = worker.Generate(context.Background(), pl, worker.GenerateConfig{Prompt: []int{1, 2, 3}, Steps: 8, Sampler: worker.NewSampler(0, 0, 1), BOS: -1},
		func(e worker.Event) error { n++; return nil })
	if err != nil || n == 0 {
		t.Fatalf("generated %d tokens: %v", n, err)
	}
}

func tensor(typ kernels.DType, dims ...uint64) *gguf.TensorInfo {
	ti := &gguf.TensorInfo{Name: "blk.0.ffn_up.weight", Type: typ, Dims: dims}
	ti.Size = ti.RowBytes() * ti.Rows()
	return ti
}

func dequant(t *testing.T, ti *gguf.TensorInfo) []float32 {
	t.Helper()
	buf := make([]byte, ti.Size)
	if err := seeded.Rows(buf, ti, 3, 0, ti.Rows()); err != nil {
		t.Fatal(err)
	}
	cols := int(ti.Dims[0])
	m, err := kernels.NewMatrix(ti.Type, int(ti.Rows()), cols, buf)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, int(ti.Rows())*cols)
	for r := range int(ti.Rows()) {
		m.DequantizeRow(v[r*cols:(r+1)*cols], r)
	}
	return v
}

func dimsString(d []uint64) string {
	s := ""
	for i, x := range d {
		if i > 0 {
			s += "x"
		}
		s += itoa(x)
	}
	return s
}

func itoa(x uint64) string {
	if x == 0 {
		return "0"
	}
	var b []byte
	for ; x > 0; x /= 10 {
		b = append([]byte{byte('0' + x%10)}, b...)
	}
	return string(b)
}

// readGolden reads testdata/rows.golden ("key hash" lines: the first 8
// bytes of each case's sha256, in hex).
func readGolden(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/rows.golden")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 2 {
			out[string(f[0])] = string(f[1])
		}
	}
	return out
}
