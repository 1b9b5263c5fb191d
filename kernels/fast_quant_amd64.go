package kernels

import "unsafe"

// Assembly row kernels of the F16 and block types: y[r] for r < rows is
// the row at w + r*rowBytes dotted with x (blocks×32 values).

//go:noescape
func dotRowsF16AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)

//go:noescape
func dotRowsQ4_0AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)

//go:noescape
func dotRowsQ4_KAVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)

//go:noescape
func dotRowsQ6_KAVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)

// rowKind names an assembly row kernel.
type rowKind int

const (
	kindF16 rowKind = iota
	kindQ4_0
	kindQ4_K
	kindQ6_K
)

// dotRowsAsm runs the assembly kernel k over the len(y) rows of w, each
// rowBytes long, holding len(x) values (a whole number of k's blocks).
func dotRowsAsm(k rowKind, y []float32, w []byte, rowBytes int, x []float32) {
	if len(y) == 0 {
		return
	}
	if len(x)%32 != 0 || len(w) < len(y)*rowBytes {
		panic("kernels: assembly row kernel called with mismatched operands")
	}
	py, pw, px, blocks := unsafe.SliceData(y), unsafe.SliceData(w), unsafe.SliceData(x), len(x)/32
	if k == kindQ4_K || k == kindQ6_K {
		if len(x)%qkK != 0 {
			panic("kernels: K-quant row kernel called with mismatched operands")
		}
		blocks = len(x) / qkK
	}
	switch k {
	case kindF16:
		dotRowsF16AVX2(py, len(y), pw, rowBytes, px, blocks)
	case kindQ4_0:
		dotRowsQ4_0AVX2(py, len(y), pw, rowBytes, px, blocks)
	case kindQ4_K:
		dotRowsQ4_KAVX2(py, len(y), pw, rowBytes, px, blocks)
	case kindQ6_K:
		dotRowsQ6_KAVX2(py, len(y), pw, rowBytes, px, blocks)
	}
}
