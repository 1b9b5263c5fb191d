// Package kernels holds tabshard's tensor types and the arithmetic on them:
// for every GGUF tensor type a Go reference implementation (dequantize a row,
// dot product with an f32 vector, quantize from f32) and the float32 ops of
// a Llama-family forward pass (RMSNorm, RoPE, softmax, SwiGLU, matvec and
// batched matmul over row ranges). The Go code is the reference that every
// GPU kernel is held to.
package kernels

import (
	"fmt"
	"math"
)

// DType is a tensor element type, numbered as ggml numbers them: the value is
// what GGUF files store, so it must never be renumbered.
type DType uint32

// The ggml type ids tabshard knows. Ids ggml has retired or that tabshard
// does not implement are rejected by Traits.
const (
	F32    DType = 0
	F16    DType = 1
	Q4_0   DType = 2
	Q4_1   DType = 3
	Q5_0   DType = 6
	Q5_1   DType = 7
	Q8_0   DType = 8
	Q2_K   DType = 10
	Q3_K   DType = 11
	Q4_K   DType = 12
	Q5_K   DType = 13
	Q6_K   DType = 14
	IQ4_NL DType = 20
	IQ4_XS DType = 23
	BF16   DType = 30
)

// Layout is the storage shape of a type: BlockElems elements are stored in
// BlockBytes bytes, and a row holds a whole number of blocks.
type Layout struct {
	Name       string
	BlockElems int
	BlockBytes int
}

var layouts = map[DType]Layout{
	F32:    {"F32", 1, 4},
	F16:    {"F16", 1, 2},
	BF16:   {"BF16", 1, 2},
	Q4_0:   {"Q4_0", 32, 18},
	Q4_1:   {"Q4_1", 32, 20},
	Q5_0:   {"Q5_0", 32, 22},
	Q5_1:   {"Q5_1", 32, 24},
	Q8_0:   {"Q8_0", 32, 34},
	Q2_K:   {"Q2_K", 256, 84},
	Q3_K:   {"Q3_K", 256, 110},
	Q4_K:   {"Q4_K", 256, 144},
	Q5_K:   {"Q5_K", 256, 176},
	Q6_K:   {"Q6_K", 256, 210},
	IQ4_NL: {"IQ4_NL", 32, 18},
	IQ4_XS: {"IQ4_XS", 256, 136},
}

// Known reports whether tabshard knows the layout of t.
func (t DType) Known() bool { _, ok := layouts[t]; return ok }

// Layout returns the storage layout of t, or an error for an unknown id.
func (t DType) Layout() (Layout, error) {
	l, ok := layouts[t]
	if !ok {
		return Layout{}, fmt.Errorf("%w: ggml type id %d", ErrUnknownType, uint32(t))
	}
	return l, nil
}

// String is the ggml name of t ("Q4_K"), or "type(N)" for an unknown id.
func (t DType) String() string {
	if l, ok := layouts[t]; ok {
		return l.Name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// ParseDType maps a ggml type name, in any case ("q4_k", "F16"), to its id.
func ParseDType(name string) (DType, error) {
	for t, l := range layouts {
		if equalFold(l.Name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownType, name)
}

// RowBytes is the size in bytes of a row of n elements of type t. It fails
// when t is unknown or n is not a whole number of blocks.
func (t DType) RowBytes(n int64) (int64, error) {
	l, err := t.Layout()
	if err != nil {
		return 0, err
	}
	if n < 0 || n%int64(l.BlockElems) != 0 {
		return 0, fmt.Errorf("%w: %d elements of %s (blocks of %d)", ErrRowLength, n, l.Name, l.BlockElems)
	}
	blocks := n / int64(l.BlockElems)
	if blocks > math.MaxInt64/int64(l.BlockBytes) {
		return 0, fmt.Errorf("%w: %d elements of %s overflow a size", ErrRowLength, n, l.Name)
	}
	return blocks * int64(l.BlockBytes), nil
}

// DTypes lists every known type in ascending id order.
func DTypes() []DType {
	out := make([]DType, 0, len(layouts))
	for t := DType(0); t <= BF16; t++ {
		if t.Known() {
			out = append(out, t)
		}
	}
	return out
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
