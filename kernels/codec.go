package kernels

import "fmt"

// Codec is the Go reference arithmetic of one tensor type. Its functions
// are safe for concurrent use, do not allocate, and panic when handed
// slices whose sizes disagree (the row functions below check shapes and
// return errors instead).
//
// Dequantize reproduces ggml's to_float bit for bit, signed zeros included.
// Dot is the dot product of the dequantized row with x, accumulated in
// float64 (see dotSums): a row gives the same float32 whether it is dotted
// directly or dequantized first, and the result is within a few float32
// ulps of the exact sum even when its terms cancel.
type Codec struct {
	// Dequantize writes len(dst) values decoded from src, which holds
	// exactly RowBytes(len(dst)) bytes.
	Dequantize func(dst []float32, src []byte)
	// Dot returns the dot product of the row stored in src with x
	// (len(x) elements).
	Dot func(src []byte, x []float32) float32
	// Quantize encodes src (a whole number of blocks) into dst
	// (RowBytes(len(src)) bytes).
	Quantize func(dst []byte, src []float32)
}

// codecs holds one shared, read-only Codec per implemented type.
var codecs = map[DType]*Codec{
	F32:    {Dequantize: dequantizeF32, Dot: dotF32, Quantize: quantizeF32},
	F16:    {Dequantize: dequantizeF16, Dot: dotF16, Quantize: quantizeF16},
	BF16:   {Dequantize: dequantizeBF16, Dot: dotBF16, Quantize: quantizeBF16},
	Q4_0:   {Dequantize: dequantizeQ4_0, Dot: dotQ4_0, Quantize: quantizeQ4_0},
	Q4_1:   {Dequantize: dequantizeQ4_1, Dot: dotQ4_1, Quantize: quantizeQ4_1},
	Q5_0:   {Dequantize: dequantizeQ5_0, Dot: dotQ5_0, Quantize: quantizeQ5_0},
	Q5_1:   {Dequantize: dequantizeQ5_1, Dot: dotQ5_1, Quantize: quantizeQ5_1},
	Q8_0:   {Dequantize: dequantizeQ8_0, Dot: dotQ8_0, Quantize: quantizeQ8_0},
	Q2_K:   {Dequantize: dequantizeQ2K, Dot: dotQ2K, Quantize: quantizeQ2K},
	Q3_K:   {Dequantize: dequantizeQ3K, Dot: dotQ3K, Quantize: quantizeQ3K},
	Q4_K:   {Dequantize: dequantizeQ4K, Dot: dotQ4K, Quantize: quantizeQ4K},
	Q5_K:   {Dequantize: dequantizeQ5K, Dot: dotQ5K, Quantize: quantizeQ5K},
	Q6_K:   {Dequantize: dequantizeQ6K, Dot: dotQ6K, Quantize: quantizeQ6K},
	IQ4_NL: {Dequantize: dequantizeIQ4NL, Dot: dotIQ4NL, Quantize: quantizeIQ4NL},
	IQ4_XS: {Dequantize: dequantizeIQ4XS, Dot: dotIQ4XS, Quantize: quantizeIQ4XS},
}

// Codec returns the reference arithmetic of t. The Codec is shared: callers
// must not modify it.
func (t DType) Codec() (*Codec, error) {
	c, ok := codecs[t]
	if !ok {
		return nil, fmt.Errorf("%w: no codec for ggml type id %d", ErrUnknownType, uint32(t))
	}
	return c, nil
}

// MatVecRows computes y[r-rowBegin] = dot(row r of w, x) for r in
// [rowBegin, rowEnd). w holds whole rows of cols elements of type t, row r
// starting at byte r*RowBytes(cols); it may be one chunk of a larger tensor,
// with rows numbered from the chunk's start. len(x) must be cols and len(y)
// rowEnd-rowBegin.
func MatVecRows(t DType, w []byte, cols int, rowBegin, rowEnd int, x []float32, y []float32) error {
	return MatMulRows(t, w, cols, rowBegin, rowEnd, x, 1, y)
}

// MatMulRows is MatVecRows for a batch: xs is n×cols row-major and ys is
// n×(rowEnd-rowBegin) row-major, ys[i*(rowEnd-rowBegin)+r-rowBegin] being
// row r of w dotted with vector i of xs. Each result equals what MatVecRows
// gives for that vector, bit for bit. For n > 1 each row is dequantized
// once, into one cols-long scratch row allocated per call, and reused for
// the whole batch.
func MatMulRows(t DType, w []byte, cols int, rowBegin, rowEnd int, xs []float32, n int, ys []float32) error {
	c, rowBytes, err := checkMatMul(t, w, cols, rowBegin, rowEnd, xs, n, ys)
	if err != nil {
		return err
	}
	m := rowEnd - rowBegin
	switch {
	case n == 0:
		return nil
	case n == 1:
		for r := range m {
			ys[r] = c.Dot(w[(rowBegin+r)*rowBytes:][:rowBytes], xs)
		}
		return nil
	}
	row := make([]float32, cols)
	for r := range m {
		c.Dequantize(row, w[(rowBegin+r)*rowBytes:][:rowBytes])
		for i := range n {
			var d dotSums
			d.add(row, xs[i*cols:][:cols])
			ys[i*m+r] = d.sum()
		}
	}
	return nil
}

// checkMatMul validates MatMulRows' operands and returns t's codec and the
// byte size of one row.
func checkMatMul(t DType, w []byte, cols, rowBegin, rowEnd int, xs []float32, n int, ys []float32) (*Codec, int, error) {
	c, err := t.Codec()
	if err != nil {
		return nil, 0, err
	}
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return nil, 0, err
	}
	rowBytes := int(rb)
	switch m := rowEnd - rowBegin; {
	case cols <= 0 || n < 0:
		return nil, 0, fmt.Errorf("%w: %d columns, batch %d", ErrShape, cols, n)
	case rowBegin < 0 || m < 0:
		return nil, 0, fmt.Errorf("%w: row range [%d,%d)", ErrShape, rowBegin, rowEnd)
	case int64(rowEnd)*rb > int64(len(w)):
		return nil, 0, fmt.Errorf("%w: rows [%d,%d) of %d %s columns need %d bytes, have %d",
			ErrShape, rowBegin, rowEnd, cols, t, int64(rowEnd)*rb, len(w))
	case len(xs) != n*cols:
		return nil, 0, fmt.Errorf("%w: input has %d values, want %d×%d", ErrShape, len(xs), n, cols)
	case len(ys) != n*m:
		return nil, 0, fmt.Errorf("%w: output has %d values, want %d×%d", ErrShape, len(ys), n, m)
	}
	return c, rowBytes, nil
}

// blockCount returns how many blocks of blockElems values in blockBytes
// bytes a row of elems values stored in nbytes bytes holds, and panics when
// the two sizes disagree: a Codec function called with mismatched slices is
// a programming error.
func blockCount(elems, blockElems, nbytes, blockBytes int) int {
	n := elems / blockElems
	if elems%blockElems != 0 || nbytes != n*blockBytes {
		panic(fmt.Sprintf("kernels: %d values in %d bytes is not a whole number of %d-value, %d-byte blocks",
			elems, nbytes, blockElems, blockBytes))
	}
	return n
}

// dotSums accumulates a dot product in four float64 sums, element i of
// the row going to sum i%4. A product of two float32 values is exact in
// float64, so the only rounding is in the additions: far below float32's,
// and the same on every architecture whether or not it fuses multiply-adds.
// Feeding a row in pieces whose lengths are multiples of four (the last
// excepted) gives the same bits as feeding it whole.
type dotSums struct{ s0, s1, s2, s3 float64 }

// add accumulates the products a[i]*x[i]; len(x) >= len(a).
func (d *dotSums) add(a, x []float32) {
	x = x[:len(a)]
	s0, s1, s2, s3 := d.s0, d.s1, d.s2, d.s3
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p, q := a[i:i+4:i+4], x[i:i+4:i+4]
		s0 += float64(p[0]) * float64(q[0])
		s1 += float64(p[1]) * float64(q[1])
		s2 += float64(p[2]) * float64(q[2])
		s3 += float64(p[3]) * float64(q[3])
	}
	if r := a[i:]; len(r) > 0 {
		q := x[i:]
		s0 += float64(r[0]) * float64(q[0])
		if len(r) > 1 {
			s1 += float64(r[1]) * float64(q[1])
		}
		if len(r) > 2 {
			s2 += float64(r[2]) * float64(q[2])
		}
	}
	d.s0, d.s1, d.s2, d.s3 = s0, s1, s2, s3
}

// sum returns the dot product rounded to float32.
func (d *dotSums) sum() float32 { return float32((d.s0 + d.s1) + (d.s2 + d.s3)) }
