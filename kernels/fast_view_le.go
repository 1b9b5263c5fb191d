//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package kernels

import "unsafe"

// On little-endian machines a row of F32 or F16 values is used in place:
// the bytes already hold the values in the machine's order. A slice that is
// not aligned to its element is copied instead (Go's allocator aligns large
// buffers, so this is for slices cut at odd offsets).

// viewF32 returns b's little-endian float32 values, sharing b's memory
// when it is aligned.
func viewF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(float32(0)) != 0 {
		return decodeF32(b)
	}
	return unsafe.Slice((*float32)(p), len(b)/4)
}

// viewU16 returns b's little-endian 16-bit values, sharing b's memory when
// it is aligned.
func viewU16(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(uint16(0)) != 0 {
		return decodeU16(b)
	}
	return unsafe.Slice((*uint16)(p), len(b)/2)
}
