package agent

import (
	"errors"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// ErrBadActivation is an activation whose shape, size or type does not fit
// the stage that received it.
var ErrBadActivation = errors.New("bad activation")

// wireType maps a proto DType to a tensor type (ggml id + 1 on the wire).
func wireType(d tabshardv1.DType) (kernels.DType, bool) {
	switch d {
	case tabshardv1.DType_D_TYPE_F32:
		return kernels.F32, true
	case tabshardv1.DType_D_TYPE_F16:
		return kernels.F16, true
	}
	return 0, false
}

// protoType is the wire DType of a tensor type.
func protoType(t kernels.DType) tabshardv1.DType { return tabshardv1.DType(uint32(t) + 1) }

// encodeHidden packs n rows of dim values as t (F16 or F32).
func encodeHidden(x []float32, n, dim int, t kernels.DType) ([]byte, error) {
	codec, err := t.Codec()
	if err != nil {
		return nil, err
	}
	rb, err := t.RowBytes(int64(dim))
	if err != nil {
		return nil, err
	}
	out := make([]byte, int64(n)*rb)
	for i := 0; i < n; i++ {
		codec.Quantize(out[int64(i)*rb:int64(i+1)*rb], x[i*dim:(i+1)*dim])
	}
	return out, nil
}

// decodeHidden checks an activation against the stage's width and returns
// its rows as float32.
func decodeHidden(a *tabshardv1.Activation, dim int) ([]float32, error) {
	t, ok := wireType(a.GetDtype())
	if !ok {
		return nil, fmt.Errorf("%w: dtype %s (want F16 or F32)", ErrBadActivation, a.GetDtype())
	}
	n := int(a.GetTokenCount())
	shape := a.GetShape()
	if n <= 0 || len(shape) != 2 || int(shape[0]) != n || int(shape[1]) != dim {
		return nil, fmt.Errorf("%w: shape %v for %d positions of width %d", ErrBadActivation, shape, n, dim)
	}
	rb, _ := t.RowBytes(int64(dim))
	if int64(len(a.GetPayload())) != int64(n)*rb {
		return nil, fmt.Errorf("%w: %d payload bytes, want %d", ErrBadActivation, len(a.GetPayload()), int64(n)*rb)
	}
	codec, _ := t.Codec()
	x := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		codec.Dequantize(x[i*dim:(i+1)*dim], a.GetPayload()[int64(i)*rb:int64(i+1)*rb])
	}
	return x, nil
}
