package gpu

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors of the backend.
var (
	// ErrNoWebGPU is a runtime without navigator.gpu or without an adapter.
	ErrNoWebGPU = errors.New("gpu: WebGPU is not available")
	// ErrLimits is a tensor or buffer the device's limits cannot hold.
	ErrLimits = errors.New("gpu: exceeds device limits")
	// ErrDevice is an error the device reported (validation, out of
	// memory, device lost).
	ErrDevice = errors.New("gpu: device error")
	// ErrOption is an option the backend does not know (Options.SetApart).
	ErrOption = errors.New("gpu: unknown option")
)

// Chunk is a run of whole rows of a tensor held in one GPU buffer.
type Chunk struct {
	RowBegin, RowEnd int
	// Bytes is the chunk's data size, rows × row bytes; its buffer is
	// BufferBytes, rounded up to whole words.
	Bytes int64
}

// BufferBytes is the size of the chunk's buffer.
func (c Chunk) BufferBytes() int64 { return roundUp(c.Bytes, 4) }

// PlanChunks splits rows rows of rowBytes bytes into chunks of at most
// maxBytes bytes (buffer size included), as evenly as possible: no
// binding may exceed the device's maxStorageBufferBindingSize, and a
// kernel addresses bytes with u32 offsets.
func PlanChunks(rows int, rowBytes, maxBytes int64) ([]Chunk, error) {
	maxBytes = min(maxBytes, math.MaxUint32-3)
	if rows <= 0 || rowBytes <= 0 {
		return nil, fmt.Errorf("%w: %d rows of %d bytes", ErrLimits, rows, rowBytes)
	}
	perChunk := (maxBytes - 4) / rowBytes
	if perChunk < 1 {
		return nil, fmt.Errorf("%w: a row of %d bytes exceeds a binding of %d bytes", ErrLimits, rowBytes, maxBytes)
	}
	n := (int64(rows) + perChunk - 1) / perChunk
	out := make([]Chunk, 0, n)
	for i := int64(0); i < n; i++ {
		b, e := int(i*int64(rows)/n), int((i+1)*int64(rows)/n)
		out = append(out, Chunk{RowBegin: b, RowEnd: e, Bytes: int64(e-b) * rowBytes})
	}
	return out, nil
}

// UploadPieces splits a chunk's rows into pieces of about pieceBytes for
// streaming from a file: each piece but the last is a whole number of
// words, so each lands at a 4-aligned buffer offset as writeBuffer
// requires. It returns the row counts.
func UploadPieces(rows int, rowBytes, pieceBytes int64) []int {
	step := int64(1)
	for step*rowBytes%4 != 0 {
		step++
	}
	per := max(step, pieceBytes/rowBytes/step*step)
	var out []int
	for left := int64(rows); left > 0; left -= per {
		out = append(out, int(min(per, left)))
	}
	return out
}

// Grid spreads n workgroups over x and y (each at most 65535): the
// kernels number workgroups x + y × countX and ignore those past their
// work.
func Grid(n int) (x, y uint32) {
	if n <= 0 {
		return 0, 1
	}
	const maxDim = 65535
	rows := (n + maxDim - 1) / maxDim
	return uint32((n + rows - 1) / rows), uint32(rows)
}

// MatVecParams are the MatVec uniform's fields (see matvec.wgsl).
type MatVecParams struct {
	Rows, RowBytes, Units        uint32
	XOff, XStride, YOff, YStride uint32
	Accumulate                   bool
}

// Words is the uniform's memory.
func (p MatVecParams) Words() []uint32 {
	return []uint32{p.Rows, p.RowBytes, p.Units, p.XOff, p.XStride, p.YOff, p.YStride, b2u(p.Accumulate)}
}

// PrepParams are the Prep uniform's fields (see xprep.wgsl).
type PrepParams struct {
	Units, XOff, XStride, OutStride uint32
	Up                              uint32 // SwiGLU: the up values' distance from their gate's
}

// Words is the uniform's memory.
func (p PrepParams) Words() []uint32 {
	return []uint32{p.Units, p.XOff, p.XStride, p.OutStride, p.Up, 0, 0, 0}
}

// MatMulParams are the MatMul uniform's fields (see matmul.wgsl).
type MatMulParams struct {
	Rows, RowBytes, Cols         uint32
	XOff, XStride, YOff, YStride uint32
	Accumulate                   bool
}

// Words is the uniform's memory.
func (p MatMulParams) Words() []uint32 {
	return []uint32{p.Rows, p.RowBytes, p.Cols, p.XOff, p.XStride, p.YOff, p.YStride, b2u(p.Accumulate)}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// RopeTable returns the cosines and sines (interleaved) that RoPE applies
// at positions pos..pos+n-1, computed as kernels.Rope.Apply computes them.
func RopeTable(freqs []float32, pos, n int) []float32 {
	out := make([]float32, 0, 2*n*len(freqs))
	for i := range n {
		for _, f := range freqs {
			angle := float32(pos+i) * f
			out = append(out, float32(math.Cos(float64(angle))), float32(math.Sin(float64(angle))))
		}
	}
	return out
}

func roundUp(v, m int64) int64 { return (v + m - 1) / m * m }
