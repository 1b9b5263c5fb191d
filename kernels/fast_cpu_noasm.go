//go:build !amd64

package kernels

// useAsm is false: there are no assembly kernels for this architecture.
var useAsm = false
