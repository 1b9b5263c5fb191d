package kernels

import "encoding/binary"

// decodeF32 decodes b's little-endian float32 values into a new slice.
func decodeF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = getF32(b[4*i:])
	}
	return out
}

// decodeU16 decodes b's little-endian 16-bit values into a new slice.
func decodeU16(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}
