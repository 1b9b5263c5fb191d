package kernels

// Fused dot-product loops for the block types. Each adds a group of
// values decoded on the fly, through a per-group table of float64 values,
// to a dotSums exactly as dotSums.add would add the dequantized group:
// same values, same accumulator for each element, same order. Dot therefore
// gives the bits of Dequantize followed by dotSums.add (TestMatMulMatchesMatVec
// checks this), only faster. The tables hold float64(value), value being
// the float32 that Dequantize writes.

// addNibblePairs adds 32 values stored as Q4_0 arranges nibbles (qs[j]:
// value j low, value j+16 high), value = lut[nibble].
func (d *dotSums) addNibblePairs(lut *[16]float64, qs []byte, x []float32) {
	qs, x = qs[:16], x[:32]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for j := 0; j < 16; j += 4 {
		b, q := qs[j:j+4:j+4], x[j:j+4:j+4]
		s0 += lut[b[0]&0xf] * float64(q[0])
		s1 += lut[b[1]&0xf] * float64(q[1])
		s2 += lut[b[2]&0xf] * float64(q[2])
		s3 += lut[b[3]&0xf] * float64(q[3])
	}
	for j := 0; j < 16; j += 4 {
		b, q := qs[j:j+4:j+4], x[16+j:20+j:20+j]
		s0 += lut[b[0]>>4] * float64(q[0])
		s1 += lut[b[1]>>4] * float64(q[1])
		s2 += lut[b[2]>>4] * float64(q[2])
		s3 += lut[b[3]>>4] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addQ5Pairs adds 32 values stored as Q5_0 arranges them, value =
// lut[5-bit code].
func (d *dotSums) addQ5Pairs(lut *[32]float64, qs []byte, qh uint32, x []float32) {
	qs, x = qs[:16], x[:32]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for j := 0; j < 16; j += 4 {
		b, q, h := qs[j:j+4:j+4], x[j:j+4:j+4], qh>>j<<4
		s0 += lut[(b[0]&0xf|byte(h)&0x10)&31] * float64(q[0])
		s1 += lut[(b[1]&0xf|byte(h>>1)&0x10)&31] * float64(q[1])
		s2 += lut[(b[2]&0xf|byte(h>>2)&0x10)&31] * float64(q[2])
		s3 += lut[(b[3]&0xf|byte(h>>3)&0x10)&31] * float64(q[3])
	}
	for j := 0; j < 16; j += 4 {
		b, q, h := qs[j:j+4:j+4], x[16+j:20+j:20+j], qh>>(16+j)<<4
		s0 += lut[(b[0]>>4|byte(h)&0x10)&31] * float64(q[0])
		s1 += lut[(b[1]>>4|byte(h>>1)&0x10)&31] * float64(q[1])
		s2 += lut[(b[2]>>4|byte(h>>2)&0x10)&31] * float64(q[2])
		s3 += lut[(b[3]>>4|byte(h>>3)&0x10)&31] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addNibbleRun adds 32 values whose codes are the nibbles at shift (0 or
// 4) of 32 consecutive bytes, value = lut[nibble] (Q4_K's arrangement).
func (d *dotSums) addNibbleRun(lut *[16]float64, qs []byte, shift uint8, x []float32) {
	qs, x = qs[:32], x[:32]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for j := 0; j < 32; j += 4 {
		b, q := qs[j:j+4:j+4], x[j:j+4:j+4]
		s0 += lut[b[0]>>shift&0xf] * float64(q[0])
		s1 += lut[b[1]>>shift&0xf] * float64(q[1])
		s2 += lut[b[2]>>shift&0xf] * float64(q[2])
		s3 += lut[b[3]>>shift&0xf] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addQ5Run adds 32 values whose codes are the nibbles at shift of 32
// consecutive bytes plus bit j of qh[l] as bit 4 (Q5_K's arrangement),
// value = lut[code].
func (d *dotSums) addQ5Run(lut *[32]float64, qs, qh []byte, shift, j uint8, x []float32) {
	qs, qh, x = qs[:32], qh[:32], x[:32]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for l := 0; l < 32; l += 4 {
		b, h, q := qs[l:l+4:l+4], qh[l:l+4:l+4], x[l:l+4:l+4]
		s0 += lut[(b[0]>>shift&0xf|(h[0]>>j&1)<<4)&31] * float64(q[0])
		s1 += lut[(b[1]>>shift&0xf|(h[1]>>j&1)<<4)&31] * float64(q[1])
		s2 += lut[(b[2]>>shift&0xf|(h[2]>>j&1)<<4)&31] * float64(q[2])
		s3 += lut[(b[3]>>shift&0xf|(h[3]>>j&1)<<4)&31] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addCrumbs adds 16 values whose codes are the bit pairs at shift of 16
// consecutive bytes (Q2_K's arrangement), value = lut[code].
func (d *dotSums) addCrumbs(lut *[4]float64, qs []byte, shift uint8, x []float32) {
	qs, x = qs[:16], x[:16]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for l := 0; l < 16; l += 4 {
		b, q := qs[l:l+4:l+4], x[l:l+4:l+4]
		s0 += lut[b[0]>>shift&3] * float64(q[0])
		s1 += lut[b[1]>>shift&3] * float64(q[1])
		s2 += lut[b[2]>>shift&3] * float64(q[2])
		s3 += lut[b[3]>>shift&3] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addQ3Run adds 16 values of Q3_K: low bits the pairs at shift of qs, high
// bit bit of hm, value = lut[low | high<<2].
func (d *dotSums) addQ3Run(lut *[8]float64, qs, hm []byte, shift, bit uint8, x []float32) {
	qs, hm, x = qs[:16], hm[:16], x[:16]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for l := 0; l < 16; l += 4 {
		b, h, q := qs[l:l+4:l+4], hm[l:l+4:l+4], x[l:l+4:l+4]
		s0 += lut[(b[0]>>shift&3|(h[0]>>bit&1)<<2)&7] * float64(q[0])
		s1 += lut[(b[1]>>shift&3|(h[1]>>bit&1)<<2)&7] * float64(q[1])
		s2 += lut[(b[2]>>shift&3|(h[2]>>bit&1)<<2)&7] * float64(q[2])
		s3 += lut[(b[3]>>shift&3|(h[3]>>bit&1)<<2)&7] * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addQ6Run adds 16 values of Q6_K: low nibble at lshift of ql, high pair
// at hshift of qh, value = dl × (code-32), exact in float64 as in float32.
func (d *dotSums) addQ6Run(dl float64, ql, qh []byte, lshift, hshift uint8, x []float32) {
	ql, qh, x = ql[:16], qh[:16], x[:16]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	code := func(l, h byte) float64 {
		return float64(int(l>>lshift&0xf|(h>>hshift&3)<<4) - 32)
	}
	for l := 0; l < 16; l += 4 {
		b, h, q := ql[l:l+4:l+4], qh[l:l+4:l+4], x[l:l+4:l+4]
		s0 += dl * code(b[0], h[0]) * float64(q[0])
		s1 += dl * code(b[1], h[1]) * float64(q[1])
		s2 += dl * code(b[2], h[2]) * float64(q[2])
		s3 += dl * code(b[3], h[3]) * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// addInt8 adds 32 values d × int8 code (Q8_0), exact in float64 as in
// float32.
func (d *dotSums) addInt8(scale float64, qs []byte, x []float32) {
	qs, x = qs[:32], x[:32]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	for l := 0; l < 32; l += 4 {
		b, q := qs[l:l+4:l+4], x[l:l+4:l+4]
		s0 += float64(int8(b[0])) * scale * float64(q[0])
		s1 += float64(int8(b[1])) * scale * float64(q[1])
		s2 += float64(int8(b[2])) * scale * float64(q[2])
		s3 += float64(int8(b[3])) * scale * float64(q[3])
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}
