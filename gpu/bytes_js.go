//go:build js && wasm

package gpu

import (
	"math"
	"unsafe"

	"github.com/tabshard/tabshard/kernels"
)

func f2u(f float32) uint32 { return math.Float32bits(f) }

// f32Bytes views f as bytes (wasm is little-endian, as WebGPU buffers are).
func f32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// u32Bytes views u as bytes.
func u32Bytes(u []uint32) []byte {
	if len(u) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), 4*len(u))
}

// weightBytes is the bytes of rows × cols values of t.
func weightBytes(t kernels.DType, rows, cols int) (int64, error) {
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return 0, err
	}
	return rb * int64(rows), nil
}
