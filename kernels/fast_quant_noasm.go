//go:build !amd64

package kernels

// rowKind names an assembly row kernel; there are none on this
// architecture.
type rowKind int

const (
	kindF16 rowKind = iota
	kindQ4_0
	kindQ4_K
	kindQ6_K
)

// dotRowsAsm is never called: useAsm is false.
func dotRowsAsm(rowKind, []float32, []byte, int, []float32) {
	panic("kernels: no assembly kernels on this architecture")
}
