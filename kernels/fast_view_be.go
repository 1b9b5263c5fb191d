//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package kernels

// On big-endian machines the stored little-endian values are decoded into
// a copy once, when the matrix is made.

// viewF32 returns b's little-endian float32 values, decoded into a copy.
func viewF32(b []byte) []float32 { return decodeF32(b) }

// viewU16 returns b's little-endian 16-bit values, decoded into a copy.
func viewU16(b []byte) []uint16 { return decodeU16(b) }
