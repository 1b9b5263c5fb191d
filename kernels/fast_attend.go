package kernels

// Attention over float32 keys and values held in rows of stride values:
// position i's head at keys[i*stride:] and values[i*stride:]. The
// arithmetic is llama2.c's but for one point: a head of 8k values sums
// q·k in eight float32 lanes (lane j takes elements j, j+8, …, in order)
// joined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the order of eight-wide
// SIMD; other head sizes sum in index order. The assembly (amd64) gives
// the same bits as the Go here.

// HeadScores sets att[i] = (q · keys[i*stride : i*stride+len(q)]) / scale
// for every i < len(att).
func HeadScores(att, q, keys []float32, stride int, scale float32) {
	if len(att) == 0 {
		return
	}
	_ = keys[(len(att)-1)*stride+len(q)-1]
	headScores(att, q, keys, stride, scale)
}

// HeadWeigh adds Σᵢ att[i]·values[i*stride : i*stride+len(out)] to out,
// each element summing its terms in float32 in order of i.
func HeadWeigh(out, att, values []float32, stride int) {
	if len(att) == 0 || len(out) == 0 {
		return
	}
	_ = values[(len(att)-1)*stride+len(out)-1]
	headWeigh(out, att, values, stride)
}

// dotHead is the q·k of HeadScores.
func dotHead(q, k []float32) float32 {
	if len(q)%8 != 0 {
		return Dot32(q, k)
	}
	k = k[:len(q)]
	var l0, l1, l2, l3, l4, l5, l6, l7 float32
	for g := 0; g < len(q); g += 8 {
		a, b := (*[8]float32)(q[g:]), (*[8]float32)(k[g:])
		l0 += float32(a[0] * b[0])
		l1 += float32(a[1] * b[1])
		l2 += float32(a[2] * b[2])
		l3 += float32(a[3] * b[3])
		l4 += float32(a[4] * b[4])
		l5 += float32(a[5] * b[5])
		l6 += float32(a[6] * b[6])
		l7 += float32(a[7] * b[7])
	}
	return ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))
}

// headScoresGo is HeadScores in Go.
func headScoresGo(att, q, keys []float32, stride int, scale float32) {
	hd := len(q)
	for i := range att {
		att[i] = dotHead(q, keys[i*stride:i*stride+hd]) / scale
	}
}

// headWeighGo is HeadWeigh in Go, eight elements at a time.
func headWeighGo(out, att, values []float32, stride int) {
	e := 0
	for ; e+8 <= len(out); e += 8 {
		weighOctet((*[8]float32)(out[e:]), att, values[e:], stride)
	}
	for ; e < len(out); e++ {
		s := out[e]
		for i, a := range att {
			s += float32(a * values[i*stride+e])
		}
		out[e] = s
	}
}

// weighOctet adds Σᵢ att[i]·values[i*stride : i*stride+8] to out.
func weighOctet(out *[8]float32, att, values []float32, stride int) {
	s0, s1, s2, s3, s4, s5, s6, s7 := out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7]
	for i, a := range att {
		v := (*[8]float32)(values[i*stride:])
		s0 += float32(a * v[0])
		s1 += float32(a * v[1])
		s2 += float32(a * v[2])
		s3 += float32(a * v[3])
		s4 += float32(a * v[4])
		s5 += float32(a * v[5])
		s6 += float32(a * v[6])
		s7 += float32(a * v[7])
	}
	*out = [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
}
