package gguf

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/tabshard/tabshard/kernels"
)

// MaxDims is the most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
const MaxDims = 4

// TensorInfo is one entry of the tensor index.
type TensorInfo struct {
	Name string
	Type kernels.DType
	// Dims are the sizes in ggml's ne order: Dims[0] is the length of a
	// contiguous row, Dims[1] the number of rows, and so on.
	Dims   []uint64
	Offset int64 // absolute byte offset of the data in the file
	Size   int64 // bytes of data, from the type's block layout
}

// Elements is the number of elements, or -1 if it overflows int64.
func (t *TensorInfo) Elements() int64 { return product(t.Dims) }

// Rows is the number of rows, the product of Dims[1:] (1 for a vector), or
// -1 if it overflows int64.
func (t *TensorInfo) Rows() int64 {
	if len(t.Dims) == 0 {
		return 1
	}
	return product(t.Dims[1:])
}

// RowBytes is the size in bytes of one row, or 0 if the type is unknown or
// the row is not a whole number of blocks.
func (t *TensorInfo) RowBytes() int64 {
	if len(t.Dims) == 0 || t.Dims[0] > math.MaxInt64 {
		return 0
	}
	n, err := t.Type.RowBytes(int64(t.Dims[0]))
	if err != nil {
		return 0
	}
	return n
}

// End is the absolute offset just past the tensor's data.
func (t *TensorInfo) End() int64 { return t.Offset + t.Size }

func product(dims []uint64) int64 {
	p := int64(1)
	for _, d := range dims {
		if d > math.MaxInt64 {
			return -1
		}
		var ok bool
		if p, ok = checkedMul(p, int64(d)); !ok {
			return -1
		}
	}
	return p
}

// tensorSize is the data size of a tensor of type typ and shape dims. It
// fails on an unknown type, a bad shape or a row that is not whole blocks.
func tensorSize(typ kernels.DType, dims []uint64) (int64, error) {
	if len(dims) == 0 || len(dims) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions (want 1 to %d)", ErrShape, len(dims), MaxDims)
	}
	for j, d := range dims {
		if d == 0 || d > math.MaxInt64 {
			return 0, fmt.Errorf("%w: dimension %d is %d", ErrShape, j, d)
		}
	}
	rowBytes, err := typ.RowBytes(int64(dims[0]))
	if err != nil {
		return 0, err
	}
	rows := product(dims[1:])
	size, ok := checkedMul(rowBytes, rows)
	if rows < 0 || !ok || product(dims) < 0 {
		return 0, fmt.Errorf("%w: %v overflows", ErrShape, dims)
	}
	return size, nil
}

// ReadTensor reads all of t's data from r, which holds the file f was read
// from.
func (f *File) ReadTensor(r io.ReaderAt, t *TensorInfo) ([]byte, error) {
	if err := f.inFile(t); err != nil {
		return nil, err
	}
	return readAt(r, t.Offset, t.Size, t.Name)
}

// ReadRows reads rows [rowBegin, rowEnd) of t's data from r.
func (f *File) ReadRows(r io.ReaderAt, t *TensorInfo, rowBegin, rowEnd int64) ([]byte, error) {
	if err := f.inFile(t); err != nil {
		return nil, err
	}
	rows, rowBytes := t.Rows(), t.RowBytes()
	if rowBegin < 0 || rowBegin > rowEnd || rowEnd > rows {
		return nil, fmt.Errorf("gguf: tensor %q: %w: rows [%d, %d) of %d", t.Name, ErrRange, rowBegin, rowEnd, rows)
	}
	if size, ok := checkedMul(rows, rowBytes); !ok || rowBytes == 0 || size != t.Size {
		return nil, fmt.Errorf("gguf: tensor %q: %w: %d rows of %d bytes in %d bytes", t.Name, ErrTensorSize, rows, rowBytes, t.Size)
	}
	return readAt(r, t.Offset+rowBegin*rowBytes, (rowEnd-rowBegin)*rowBytes, t.Name)
}

// inFile checks that t's data lies inside f's data section.
func (f *File) inFile(t *TensorInfo) error {
	if t.Offset < f.DataOffset || t.Size < 0 || t.Offset > f.Size || t.Size > f.Size-t.Offset {
		return fmt.Errorf("gguf: tensor %q: %w: data [%d, +%d) outside the data section [%d, %d)",
			t.Name, ErrRange, t.Offset, t.Size, f.DataOffset, f.Size)
	}
	return nil
}

func readAt(r io.ReaderAt, off, n int64, name string) ([]byte, error) {
	if n > math.MaxInt {
		return nil, fmt.Errorf("gguf: tensor %q: %w: %d bytes do not fit in memory", name, ErrRange, n)
	}
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if m == len(b) {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: read %d of %d bytes", ErrTruncated, m, n)
	}
	return nil, fmt.Errorf("gguf: tensor %q: read at %d: %w", name, off+int64(m), err)
}
