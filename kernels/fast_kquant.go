package kernels

// Fast paths of the K-quants, in blockLanes (fast_f32.go), with the scales
// decoded as the codecs decode them.
//
// Q4_K: a 32-value sub-block j holds y = d_j·q − m_j. Its lanes sum the
// codes against x, s_l = (q[l]·x[l] + q[l+8]·x[l+8]) + (…l+16… + …l+24…),
// and x itself, t_l = (x[l] + x[l+8]) + (x[l+16] + x[l+24]); the lane adds
// float64(d_j·s_l − m_j·t_l), each product rounded to float32, so the
// offset costs one product per lane rather than one per value.
//
// Q6_K: the 16-value sub-blocks pair up into 32-value runs; lane l of a
// run sums codes (q−32) against x within each half, s_l = q[l]·x[l] +
// q[l+8]·x[l+8] and u_l = q[l+16]·x[l+16] + q[l+24]·x[l+24], and adds
// float64(d_a·s_l + d_b·u_l) with the halves' scales d_a and d_b.

// xLane is t_l: the four values of x that lane l takes, summed pairwise.
func xLane(x *[32]float32, l int) float32 {
	return (x[l] + x[l+8]) + (x[l+16] + x[l+24])
}

// q4KLane is s_l of a Q4_K sub-block: codes the nibbles at shift of q.
func q4KLane(q *[32]byte, shift uint, x *[32]float32, l int) float32 {
	return (float32(float32(q[l]>>shift&0xf)*x[l]) + float32(float32(q[l+8]>>shift&0xf)*x[l+8])) +
		(float32(float32(q[l+16]>>shift&0xf)*x[l+16]) + float32(float32(q[l+24]>>shift&0xf)*x[l+24]))
}

// dotQ4KGo is the fast dot product of a Q4_K row with x.
func dotQ4KGo(src []byte, x []float32) float32 {
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	for len(src) >= q4KBytes && len(x) >= qkK {
		b := (*[q4KBytes]byte)(src)
		k := decodeScaleMinK(b[:16])
		for j := range 8 {
			q, shift := (*[32]byte)(b[16+32*(j/2):]), 4*uint(j%2)
			xs, d, m := (*[32]float32)(x[32*j:]), k.d[j], k.m[j]
			a0 += float64(float32(d*q4KLane(q, shift, xs, 0)) - float32(m*xLane(xs, 0)))
			a1 += float64(float32(d*q4KLane(q, shift, xs, 1)) - float32(m*xLane(xs, 1)))
			a2 += float64(float32(d*q4KLane(q, shift, xs, 2)) - float32(m*xLane(xs, 2)))
			a3 += float64(float32(d*q4KLane(q, shift, xs, 3)) - float32(m*xLane(xs, 3)))
			a4 += float64(float32(d*q4KLane(q, shift, xs, 4)) - float32(m*xLane(xs, 4)))
			a5 += float64(float32(d*q4KLane(q, shift, xs, 5)) - float32(m*xLane(xs, 5)))
			a6 += float64(float32(d*q4KLane(q, shift, xs, 6)) - float32(m*xLane(xs, 6)))
			a7 += float64(float32(d*q4KLane(q, shift, xs, 7)) - float32(m*xLane(xs, 7)))
		}
		src, x = src[q4KBytes:], x[qkK:]
	}
	l := blockLanes{a0, a1, a2, a3, a4, a5, a6, a7}
	return l.sum()
}

// q6KRun is one 32-value run of a Q6_K super-block: low nibbles of ql at
// shift ls, high pairs of qh at shift hs.
type q6KRun struct {
	ql, qh *[32]byte
	ls, hs uint
}

// code is value i's code minus 32, as float32.
func (r *q6KRun) code(i int) float32 {
	return float32(int(r.ql[i]>>r.ls&0xf|(r.qh[i]>>r.hs&3)<<4) - 32)
}

// dotQ6KGo is the fast dot product of a Q6_K row with x. Run i of a
// super-block (values 32i to 32i+31) is half i/4, quarter k = i%4: low
// nibbles from ql[64·half + 32·(k%2):] at shift 4·(k/2), high pairs from
// qh[32·half:] at shift 2k.
func dotQ6KGo(src []byte, x []float32) float32 {
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	for len(src) >= q6KBytes && len(x) >= qkK {
		b := (*[q6KBytes]byte)(src)
		d := getFP16(b[208:])
		for i := range 8 {
			h, k := i/4, i%4
			r := q6KRun{(*[32]byte)(b[64*h+32*(k%2):]), (*[32]byte)(b[128+32*h:]), 4 * uint(k/2), 2 * uint(k)}
			da := d * float32(int8(b[192+2*i]))
			db := d * float32(int8(b[192+2*i+1]))
			xs := (*[32]float32)(x[32*i:])
			a0 += float64(float32(da*(float32(r.code(0)*xs[0])+float32(r.code(8)*xs[8]))) +
				float32(db*(float32(r.code(16)*xs[16])+float32(r.code(24)*xs[24]))))
			a1 += float64(float32(da*(float32(r.code(1)*xs[1])+float32(r.code(9)*xs[9]))) +
				float32(db*(float32(r.code(17)*xs[17])+float32(r.code(25)*xs[25]))))
			a2 += float64(float32(da*(float32(r.code(2)*xs[2])+float32(r.code(10)*xs[10]))) +
				float32(db*(float32(r.code(18)*xs[18])+float32(r.code(26)*xs[26]))))
			a3 += float64(float32(da*(float32(r.code(3)*xs[3])+float32(r.code(11)*xs[11]))) +
				float32(db*(float32(r.code(19)*xs[19])+float32(r.code(27)*xs[27]))))
			a4 += float64(float32(da*(float32(r.code(4)*xs[4])+float32(r.code(12)*xs[12]))) +
				float32(db*(float32(r.code(20)*xs[20])+float32(r.code(28)*xs[28]))))
			a5 += float64(float32(da*(float32(r.code(5)*xs[5])+float32(r.code(13)*xs[13]))) +
				float32(db*(float32(r.code(21)*xs[21])+float32(r.code(29)*xs[29]))))
			a6 += float64(float32(da*(float32(r.code(6)*xs[6])+float32(r.code(14)*xs[14]))) +
				float32(db*(float32(r.code(22)*xs[22])+float32(r.code(30)*xs[30]))))
			a7 += float64(float32(da*(float32(r.code(7)*xs[7])+float32(r.code(15)*xs[15]))) +
				float32(db*(float32(r.code(23)*xs[23])+float32(r.code(31)*xs[31]))))
		}
		src, x = src[q6KBytes:], x[qkK:]
	}
	l := blockLanes{a0, a1, a2, a3, a4, a5, a6, a7}
	return l.sum()
}

// rowsQ4K is a Q4_K matrix's row kernel.
func rowsQ4K(m *Matrix, y, x []float32, begin, end int) {
	if useAsm {
		dotRowsAsm(kindQ4_K, y, m.Data[begin*m.RowBytes:end*m.RowBytes], m.RowBytes, x[:m.Cols])
		return
	}
	for r := begin; r < end; r++ {
		y[r-begin] = dotQ4KGo(m.Row(r), x[:m.Cols])
	}
}

// rowsQ6K is a Q6_K matrix's row kernel.
func rowsQ6K(m *Matrix, y, x []float32, begin, end int) {
	if useAsm {
		dotRowsAsm(kindQ6_K, y, m.Data[begin*m.RowBytes:end*m.RowBytes], m.RowBytes, x[:m.Cols])
		return
	}
	for r := begin; r < end; r++ {
		y[r-begin] = dotQ6KGo(m.Row(r), x[:m.Cols])
	}
}
