package kernels

import "unsafe"

//go:noescape
func softmaxAVX2(x *float32, n int)

//go:noescape
func swigluAVX2(gate, up *float32, octets int)

// softmax is softmaxGo, in assembly where the CPU has AVX2.
func softmax(x []float32) {
	if !useAsm {
		softmaxGo(x)
		return
	}
	softmaxAVX2(unsafe.SliceData(x), len(x))
}

// swiglu is swigluGo, its whole octets in assembly where the CPU has AVX2.
func swiglu(gate, up []float32) {
	n := len(gate) &^ 7
	if !useAsm || n == 0 {
		swigluGo(gate, up)
		return
	}
	swigluAVX2(unsafe.SliceData(gate), unsafe.SliceData(up), n/8)
	swigluGo(gate[n:], up[n:])
}

//go:noescape
func expAVX2(x *float32, octets int)
