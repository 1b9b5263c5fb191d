package kernels

import "errors"

// Sentinel errors; callers wrap them with the tensor they concern.
var (
	// ErrUnknownType is a ggml type id or name tabshard does not implement.
	ErrUnknownType = errors.New("unknown tensor type")
	// ErrRowLength is a row whose length is not a whole number of blocks.
	ErrRowLength = errors.New("row length is not a whole number of blocks")
	// ErrShape is an operand whose size does not match the operation.
	ErrShape = errors.New("shape mismatch")
)
