//go:build !amd64

package kernels

func softmax(x []float32) { softmaxGo(x) }

func swiglu(gate, up []float32) { swigluGo(gate, up) }
