package gguf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Read wraps them in a *FormatError; the typed accessors of
// File wrap ErrMissingKey and ErrKeyType with the key concerned. Unknown
// tensor types and rows that are not whole blocks wrap
// kernels.ErrUnknownType and kernels.ErrRowLength.
var (
	// ErrNotGGUF is input that does not start with the magic "GGUF".
	ErrNotGGUF = errors.New("not a GGUF file (bad magic)")
	// ErrVersion is a GGUF version other than 1, 2 or 3.
	ErrVersion = errors.New("unsupported GGUF version")
	// ErrTruncated is input that ends before a field or a tensor's data,
	// or a length or count larger than the bytes that remain.
	ErrTruncated = errors.New("truncated")
	// ErrValueType is an unknown metadata value type.
	ErrValueType = errors.New("unknown metadata value type")
	// ErrTooDeep is metadata arrays nested deeper than MaxDepth.
	ErrTooDeep = errors.New("arrays nested too deeply")
	// ErrDuplicate is a metadata key or tensor name that occurs twice.
	ErrDuplicate = errors.New("duplicate")
	// ErrAlignment is an alignment that is zero or not a power of two, or a
	// tensor offset that is not a multiple of the alignment.
	ErrAlignment = errors.New("bad alignment")
	// ErrShape is a tensor shape GGUF cannot hold: no dimensions, more than
	// MaxDims, a zero dimension, or a size that overflows.
	ErrShape = errors.New("bad tensor shape")
	// ErrOverlap is two tensors whose data overlap.
	ErrOverlap = errors.New("overlapping tensors")
	// ErrMissingKey is a metadata key the file does not have.
	ErrMissingKey = errors.New("missing key")
	// ErrKeyType is a metadata value of a type other than the one asked for
	// (or a value out of the asked type's range).
	ErrKeyType = errors.New("wrong metadata value type")
	// ErrTensorSize is tensor data whose length differs from what the
	// tensor's type and shape need.
	ErrTensorSize = errors.New("tensor data size mismatch")
	// ErrRange is a row range or tensor outside the tensor or file.
	ErrRange = errors.New("out of range")
	// ErrValue is a metadata value the writer cannot encode.
	ErrValue = errors.New("invalid metadata value")
)

// FormatError is malformed or truncated GGUF input. Offset is the absolute
// byte offset in the file where the problem was found, Field names what was
// being read there (`tensor 3 ("blk.0.attn_q.weight") dims`).
type FormatError struct {
	Offset int64
	Field  string
	Err    error
}

func (e *FormatError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("gguf: offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("gguf: offset %d: %s: %v", e.Offset, e.Field, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// within prefixes the Field of a *FormatError with the enclosing field.
func within(err error, field string) error {
	if fe, ok := err.(*FormatError); ok {
		fe.Field = field + fe.Field
	}
	return err
}
