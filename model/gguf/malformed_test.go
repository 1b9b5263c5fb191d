package gguf

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

// Every prefix of a valid file that cuts into its header or tensor data is
// an error of type *FormatError wrapping ErrTruncated, never a panic.
func TestTruncation(t *testing.T) {
	for _, version := range []uint32{1, 3} {
		b := sampleBytes(t, version)
		f := mustRead(t, b)
		end := f.Tensors[len(f.Tensors)-1].End()
		for n := range len(b) {
			_, err := Read(bytes.NewReader(b[:n]), int64(n))
			if int64(n) >= end {
				if err != nil {
					t.Errorf("v%d: cut at %d, in the last padding: %v", version, n, err)
				}
				continue
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("v%d: cut at %d: %v", version, n, err)
			}
			if fe.Offset < 0 || fe.Offset > int64(n) {
				t.Fatalf("v%d: cut at %d: error offset %d", version, n, fe.Offset)
			}
		}
	}
}

// Read must read through a size smaller than what r holds.
func TestReadHonoursSize(t *testing.T) {
	b := sampleBytes(t, 3)
	if _, err := Read(bytes.NewReader(b), int64(len(b))-40); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v", err)
	}
	if _, err := Read(bytes.NewReader(b[:100]), int64(len(b))); !errors.Is(err, ErrTruncated) {
		t.Fatalf("size larger than the data: %v", err)
	}
}

// raw builds GGUF bytes field by field, malformed as a test wants.
type raw struct {
	b  []byte
	v1 bool
}

func newRaw(version uint32, nTensors, nKV uint64) *raw {
	r := &raw{v1: version == 1}
	r.b = append(r.b, Magic...)
	r.u32(version)
	r.n(nTensors)
	r.n(nKV)
	return r
}

func (r *raw) u8(x uint8) *raw   { r.b = append(r.b, x); return r }
func (r *raw) u32(x uint32) *raw { r.b = appendLE(r.b, uint64(x), 4); return r }
func (r *raw) u64(x uint64) *raw { r.b = appendLE(r.b, x, 8); return r }

// n writes a count, length or dimension: 32 bits in v1.
func (r *raw) n(x uint64) *raw {
	if r.v1 {
		return r.u32(uint32(x))
	}
	return r.u64(x)
}

func (r *raw) str(s string) *raw { r.n(uint64(len(s))); r.b = append(r.b, s...); return r }

// kv writes a key and a value type; the value follows.
func (r *raw) kv(key string, t ValueType) *raw { return r.str(key).u32(uint32(t)) }

func (r *raw) tensor(name string, typ kernels.DType, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.n(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n bytes of tensor data.
func (r *raw) data(n int) []byte {
	for len(r.b)%32 != 0 {
		r.b = append(r.b, 0)
	}
	return append(r.b, make([]byte, n)...)
}

func TestMalformed(t *testing.T) {
	f32 := kernels.F32
	tests := []struct {
		name string
		b    []byte
		want error
		msg  string // the error must mention it
	}{
		{"empty", nil, ErrTruncated, "magic"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrNotGGUF, "not a GGUF file"},
		{"text", []byte("#!/bin/sh\necho hi\n"), ErrNotGGUF, "not a GGUF file"},
		{"version 0", newRaw(0, 0, 0).b, ErrVersion, "offset 4: version: unsupported GGUF version: 0"},
		{"version 4", newRaw(4, 0, 0).b, ErrVersion, "4"},
		{"big-endian", newRaw(3<<24, 0, 0).b, ErrVersion, "big-endian"},
		{"huge tensor count", newRaw(3, 1<<60, 0).b, ErrTruncated, "tensor count"},
		{"huge kv count", newRaw(3, 0, 1<<60).b, ErrTruncated, "kv count"},
		{"huge key length", newRaw(3, 0, 1).u64(1 << 60).data(64), ErrTruncated, "kv 0 key"},
		{"huge string", newRaw(3, 0, 1).kv("s", TypeString).u64(1 << 60).data(64), ErrTruncated, `kv 0 ("s") value`},
		{"max string", newRaw(3, 0, 1).kv("s", TypeString).u64(math.MaxUint64).data(64), ErrTruncated, "string length"},
		{"huge v1 string", newRaw(1, 0, 1).kv("s", TypeString).u32(math.MaxUint32).data(64), ErrTruncated, "string length"},
		{"huge array", newRaw(3, 0, 1).kv("a", TypeArray).u32(uint32(TypeUint32)).u64(1 << 62).data(64), ErrTruncated, "count"},
		{"huge string array", newRaw(3, 0, 1).kv("a", TypeArray).u32(uint32(TypeString)).u64(1 << 40).data(64), ErrTruncated, "count"},
		{"max array", newRaw(3, 0, 1).kv("a", TypeArray).u32(uint32(TypeFloat64)).u64(math.MaxUint64).data(64), ErrTruncated, "count"},
		{"huge string in array", newRaw(3, 0, 1).kv("a", TypeArray).u32(uint32(TypeString)).u64(2).str("x").u64(1 << 60).data(64), ErrTruncated, `value[1]`},
		{"unknown value type", newRaw(3, 0, 1).kv("k", 13).data(8), ErrValueType, `kv 0 ("k") type`},
		{"unknown element type", newRaw(3, 0, 1).kv("k", TypeArray).u32(99).u64(0).b, ErrValueType, "element type"},
		{"deep nesting", deep(MaxDepth + 1), ErrTooDeep, "value[0][0]"},
		{"duplicate key", newRaw(3, 0, 2).kv("k", TypeUint8).u8(1).kv("k", TypeUint8).u8(2).b, ErrDuplicate, `kv 1 ("k") key`},
		{"alignment type", newRaw(3, 0, 1).kv(KeyAlignment, TypeUint64).u64(32).b, ErrKeyType, KeyAlignment},
		{"alignment zero", newRaw(3, 0, 1).kv(KeyAlignment, TypeUint32).u32(0).b, ErrAlignment, "power of two"},
		{"alignment 48", newRaw(3, 0, 1).kv(KeyAlignment, TypeUint32).u32(48).b, ErrAlignment, "power of two"},
		{"unknown tensor type", newRaw(3, 1, 0).tensor("blk.0.attn_q.weight", kernels.DType(4), 0, 32).data(32), kernels.ErrUnknownType, `tensor 0 ("blk.0.attn_q.weight") type`},
		{"row length", newRaw(3, 1, 0).tensor("q", kernels.Q4_0, 0, 33, 2).data(64), kernels.ErrRowLength, `tensor 0 ("q") dims`},
		{"five dims", newRaw(3, 1, 0).tensor("t", f32, 0, 1, 1, 1, 1, 1).data(32), ErrShape, `tensor 0 ("t") n_dims`},
		{"no dims", newRaw(3, 1, 0).tensor("t", f32, 0).data(32), ErrShape, "n_dims"},
		{"zero dim", newRaw(3, 1, 0).tensor("t", f32, 0, 4, 0).data(32), ErrShape, "dims"},
		{"dims overflow", newRaw(3, 1, 0).tensor("t", f32, 0, 1<<32, 1<<32, 1<<32).data(32), ErrShape, "dims"},
		{"dim over int64", newRaw(3, 1, 0).tensor("t", kernels.DType(0), 0, math.MaxUint64).data(32), ErrShape, "dims"},
		{"size overflow", newRaw(3, 1, 0).tensor("t", f32, 0, 1<<31, 1<<31).data(32), ErrShape, "dims"},
		{"misaligned", newRaw(3, 1, 0).tensor("t", f32, 16, 4).data(64), ErrAlignment, `tensor 0 ("t") offset`},
		{"past EOF", newRaw(3, 1, 0).tensor("t", f32, 0, 64).data(255), ErrTruncated, "past the end"},
		{"offset past EOF", newRaw(3, 1, 0).tensor("t", f32, 1<<62, 1).data(32), ErrTruncated, "past the end"},
		{"offset over int64", newRaw(3, 1, 0).tensor("t", f32, math.MaxUint64&^31, 1).data(32), ErrTruncated, "past the end"},
		{"overlap", newRaw(3, 2, 0).tensor("a", f32, 0, 16).tensor("b", f32, 32, 8).data(128), ErrOverlap, `tensor 1 ("b")`},
		{"same offset", newRaw(3, 2, 0).tensor("a", f32, 0, 8).tensor("b", f32, 0, 8).data(64), ErrOverlap, `("a")`},
		{"duplicate tensor", newRaw(3, 2, 0).tensor("a", f32, 0, 8).tensor("a", f32, 32, 8).data(64), ErrDuplicate, `tensor 1 ("a") name`},
		{"v1 truncated dims", newRaw(1, 1, 0).str(strings.Repeat("t", 20)).u32(2).u32(4).b, ErrTruncated, "dims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.b), int64(len(tt.b)))
			var fe *FormatError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v\nwant %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

// deep is a file with one metadata array nested depth levels deep.
func deep(depth int) []byte {
	r := newRaw(3, 0, 1).kv("deep", TypeArray)
	for range depth - 1 {
		r.u32(uint32(TypeArray)).u64(1)
	}
	return r.u32(uint32(TypeUint8)).u64(1).data(1)
}

// MaxDepth levels are fine, one more is not.
func TestNestingLimit(t *testing.T) {
	b := deep(MaxDepth)
	f := mustRead(t, b)
	v, _ := f.Lookup("deep")
	for range MaxDepth - 1 {
		v = v.Index(0)
	}
	if v.ElemType() != TypeUint8 || v.Len() != 1 {
		t.Fatalf("innermost %v", v)
	}
	w := NewWriter()
	check(t, w.Add("deep", f.KV[0].Value))
}
