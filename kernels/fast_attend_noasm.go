//go:build !amd64

package kernels

func headScores(att, q, keys []float32, stride int, scale float32) {
	headScoresGo(att, q, keys, stride, scale)
}

func headWeigh(out, att, values []float32, stride int) { headWeighGo(out, att, values, stride) }
