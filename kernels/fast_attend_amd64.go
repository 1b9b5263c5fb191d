package kernels

import "unsafe"

//go:noescape
func headScoresAVX2(att *float32, n int, q *float32, keys *float32, stride int, octets int, scale float32)

//go:noescape
func weighOctetsAVX2(out *float32, octets int, att *float32, n int, values *float32, stride int)

// headScores is headScoresGo, in assembly for heads of 8k values.
func headScores(att, q, keys []float32, stride int, scale float32) {
	if !useAsm || len(q)%8 != 0 {
		headScoresGo(att, q, keys, stride, scale)
		return
	}
	headScoresAVX2(unsafe.SliceData(att), len(att), unsafe.SliceData(q), unsafe.SliceData(keys), stride, len(q)/8, scale)
}

// headWeigh is headWeighGo, its octets in assembly.
func headWeigh(out, att, values []float32, stride int) {
	if !useAsm || len(out) < 8 {
		headWeighGo(out, att, values, stride)
		return
	}
	octets := len(out) / 8
	weighOctetsAVX2(unsafe.SliceData(out), octets, unsafe.SliceData(att), len(att), unsafe.SliceData(values), stride)
	if rest := 8 * octets; rest < len(out) {
		headWeighGo(out[rest:], att, values[rest:], stride)
	}
}
