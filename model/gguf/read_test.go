package gguf

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// The two stories260K files hold the same model in GGUF v1 and v3.
func TestStoriesV1V3Identical(t *testing.T) {
	b1 := readFile(t, testFile(t, storiesV1))
	b3 := readFile(t, testFile(t, storiesV3))
	f1, f3 := mustRead(t, b1), mustRead(t, b3)
	if f1.Version != 1 || f3.Version != 3 {
		t.Fatalf("versions %d, %d", f1.Version, f3.Version)
	}
	sameHeader(t, f1, f3)
	for i := range f1.Tensors {
		d1, err := f1.ReadTensor(bytes.NewReader(b1), &f1.Tensors[i])
		check(t, err)
		d3, err := f3.ReadTensor(bytes.NewReader(b3), &f3.Tensors[i])
		check(t, err)
		if !bytes.Equal(d1, d3) {
			t.Fatalf("tensor %s differs", f1.Tensors[i].Name)
		}
	}
	want := []struct {
		file       *File
		dataOffset int64
	}{{f1, 11456}, {f3, 14144}}
	for _, w := range want {
		if w.file.DataOffset != w.dataOffset || w.file.Alignment != 32 {
			t.Errorf("v%d: data at %d align %d, want %d 32", w.file.Version, w.file.DataOffset, w.file.Alignment, w.dataOffset)
		}
	}
}

func TestStoriesMetadata(t *testing.T) {
	f, osf, err := Open(testFile(t, storiesV1))
	check(t, err)
	defer osf.Close()
	if s, err := f.String("general.architecture"); err != nil || s != "llama" {
		t.Errorf("architecture %q, %v", s, err)
	}
	for key, want := range map[string]uint64{
		"llama.embedding_length": 64, "llama.block_count": 5, "llama.feed_forward_length": 172,
		"llama.attention.head_count": 8, "llama.attention.head_count_kv": 4, "llama.context_length": 512,
	} {
		if got, err := f.Uint(key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(eps) != 1e-5 {
		t.Errorf("eps %v, %v", eps, err)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	check(t, err)
	scores, err := f.Float32s("tokenizer.ggml.scores")
	check(t, err)
	types, err := f.Int32s("tokenizer.ggml.token_type")
	check(t, err)
	if len(tokens) != 512 || len(scores) != 512 || len(types) != 512 || tokens[3] != "<0x00>" || types[3] != 6 {
		t.Errorf("tokenizer: %d %d %d %q %d", len(tokens), len(scores), len(types), tokens[3], types[3])
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != kernels.F32 || !slices.Equal(emb.Dims, []uint64{64, 512}) ||
		emb.Rows() != 512 || emb.RowBytes() != 256 || emb.Elements() != 64*512 || emb.Size != 131072 {
		t.Fatalf("token_embd: %+v", emb)
	}
	row, err := f.ReadRows(osf, emb, 1, 2)
	check(t, err)
	all, err := f.ReadTensor(osf, emb)
	check(t, err)
	if !bytes.Equal(row, all[256:512]) {
		t.Error("ReadRows(1,2) differs from the tensor's second row")
	}
}

// The ggml-written vectors: data section and tensor offsets from FORMATS.txt.
func TestQuantFiles(t *testing.T) {
	tests := []struct {
		path                  string
		dataOffset, size      int64
		tensors               int
		name                  string
		typ                   kernels.DType
		rel, bytes, nKV, cols int64
	}{
		{quantVectors, 2720, 261344, 33, "IQ4_XS.q", kernels.IQ4_XS, 244704, 1632, 12, 512},
		{quantMatvec, 1664, 516224, 14, "Q4_K.w", kernels.Q4_K, 373248, 36864, 13, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, osf, err := Open(testFile(t, tt.path))
			check(t, err)
			defer osf.Close()
			if f.DataOffset != tt.dataOffset || f.Size != tt.size || len(f.Tensors) != tt.tensors || len(f.KV) != int(tt.nKV) {
				t.Fatalf("data %d size %d tensors %d kvs %d", f.DataOffset, f.Size, len(f.Tensors), len(f.KV))
			}
			ti, ok := f.Tensor(tt.name)
			if !ok || ti.Type != tt.typ || ti.Offset-f.DataOffset != tt.rel || ti.Size != tt.bytes {
				t.Fatalf("%s: %+v", tt.name, ti)
			}
			if cols, err := f.Uint("test.cols"); err != nil || int64(cols) != tt.cols {
				t.Errorf("test.cols %d %v", cols, err)
			}
			rows, err := f.ReadRows(osf, ti, 1, ti.Rows())
			check(t, err)
			all, err := f.ReadTensor(osf, ti)
			check(t, err)
			if !bytes.Equal(rows, all[ti.RowBytes():]) {
				t.Error("ReadRows differs from ReadTensor")
			}
		})
	}
}

func TestAccessorErrors(t *testing.T) {
	f := mustRead(t, sampleBytes(t, 3))
	tests := []struct {
		name string
		get  func() error
		want error
	}{
		{"missing", func() error { _, err := f.String("nope"); return err }, ErrMissingKey},
		{"string of int", func() error { _, err := f.String("u8"); return err }, ErrKeyType},
		{"uint of negative", func() error { _, err := f.Uint("i8"); return err }, ErrKeyType},
		{"uint of string", func() error { _, err := f.Uint("str"); return err }, ErrKeyType},
		{"int of huge uint64", func() error { _, err := f.Int("u64"); return err }, ErrKeyType},
		{"float of string", func() error { _, err := f.Float("str"); return err }, ErrKeyType},
		{"bool of uint8", func() error { _, err := f.Bool("u8"); return err }, ErrKeyType},
		{"strings of f32s", func() error { _, err := f.Strings("arr.f32"); return err }, ErrKeyType},
		{"float32s of strings", func() error { _, err := f.Float32s("arr.str"); return err }, ErrKeyType},
		{"int32s of int16s", func() error { _, err := f.Int32s("arr.of.int16"); return err }, ErrKeyType},
		{"uint32s of negative", func() error { _, err := f.Uint32s("arr.i32"); return err }, ErrKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.get()
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "key") {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f := mustRead(t, sampleBytes(t, 3))
	if v, err := f.Int("i64"); err != nil || v != -1<<62 {
		t.Errorf("Int(i64) = %d, %v", v, err)
	}
	if v, err := f.Uint("u64"); err != nil || v != 1<<63+5 {
		t.Errorf("Uint(u64) = %d, %v", v, err)
	}
	if v, err := f.Uint("i16"); err == nil {
		t.Errorf("Uint(i16) = %d, want error", v)
	}
	if v, err := f.Float("u32"); err != nil || v != 4e9 {
		t.Errorf("Float(u32) = %v, %v", v, err)
	}
	if v, err := f.Float("f32"); err != nil || v != 1.5 {
		t.Errorf("Float(f32) = %v, %v", v, err)
	}
	if v, err := f.Bool("bool"); err != nil || !v {
		t.Errorf("Bool = %v, %v", v, err)
	}
	if v, err := f.Int32s("arr.u32"); err != nil || !slices.Equal(v, []int32{1, 2, 3}) {
		t.Errorf("Int32s(u32 array) = %v, %v", v, err)
	}
	if v, err := f.Strings("arr.str"); err != nil || !slices.Equal(v, []string{"a", "", "ccc"}) {
		t.Errorf("Strings = %q, %v", v, err)
	}
	nested, _ := f.Lookup("arr.nested")
	if nested.Len() != 4 || nested.Index(2).Index(0).Index(0).String() != "7" {
		t.Errorf("nested = %v", nested)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, _, err := Open(t.TempDir() + "/missing.gguf"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := t.TempDir() + "/text.gguf"
	check(t, os.WriteFile(p, []byte("hello, this is not a model"), 0o644))
	_, _, err := Open(p)
	if !errors.Is(err, ErrNotGGUF) || !strings.Contains(err.Error(), "not a GGUF file") {
		t.Errorf("text file: %v", err)
	}
}

func TestReadRowsErrors(t *testing.T) {
	b := sampleBytes(t, 3)
	f := mustRead(t, b)
	ti, _ := f.Tensor("blk.0.q") // Q4_0 [32 3]: 3 rows of 18 bytes
	r := bytes.NewReader(b)
	if got, err := f.ReadRows(r, ti, 1, 3); err != nil || !bytes.Equal(got, seq(54)[18:]) {
		t.Fatalf("rows 1..3: %v", err)
	}
	if got, err := f.ReadRows(r, ti, 2, 2); err != nil || len(got) != 0 {
		t.Fatalf("empty range: %v", err)
	}
	for _, rng := range [][2]int64{{-1, 1}, {2, 1}, {0, 4}} {
		if _, err := f.ReadRows(r, ti, rng[0], rng[1]); !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "blk.0.q") {
			t.Errorf("rows %v: %v", rng, err)
		}
	}
	outside := *ti
	outside.Offset = f.Size - 8
	if _, err := f.ReadTensor(r, &outside); !errors.Is(err, ErrRange) {
		t.Errorf("tensor past the end: %v", err)
	}
	if _, err := f.ReadTensor(bytes.NewReader(b[:ti.Offset+4]), ti); !errors.Is(err, ErrTruncated) {
		t.Errorf("short reader: %v", err)
	}
	bad := *ti
	bad.Dims = []uint64{16, 3}
	if _, err := f.ReadRows(r, &bad, 0, 1); !errors.Is(err, ErrTensorSize) {
		t.Errorf("inconsistent info: %v", err)
	}
}

func TestIndex(t *testing.T) {
	w := sampleWriter(t, 3)
	f := mustRead(t, sampleBytes(t, 3))
	for i, want := range w.Tensors() {
		got := f.Tensors[i]
		if got.Name != want.Name || got.Offset-f.DataOffset != want.Offset || got.Size != want.Size {
			t.Errorf("tensor %d: read %+v, writer planned %+v", i, got, want)
		}
	}
	f.KV = f.KV[:1]
	f.Tensors = f.Tensors[1:]
	f.Reindex()
	if _, ok := f.Lookup("i8"); ok {
		t.Error("Lookup finds a removed key")
	}
	if _, ok := f.Tensor("a"); ok {
		t.Error("Tensor finds a removed tensor")
	}
	if ti, ok := f.Tensor("k"); !ok || ti.Elements() != 512 || ti.Rows() != 2 || ti.RowBytes() != 144 {
		t.Errorf("k: %+v", ti)
	}
	nested, _ := mustRead(t, sampleBytes(t, 3)).Lookup("arr.nested")
	if elems := nested.Elems(); len(elems) != 4 || !elems[1].Equal(Strings([]string{"x"})) || elems[0].Equal(elems[1]) {
		t.Errorf("Elems: %v", elems)
	}
}
