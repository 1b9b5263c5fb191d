package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

// Matrix is a weight tensor held in its stored type: Rows rows of Cols
// elements, row r at Data[r*RowBytes:].
//
// MatMul does not use the codec's Dot (float64 sums, bit-exact with ggml)
// but a fast path per type, chosen once by NewMatrix: F32 rows are read in
// place as []float32 and Q8_0 rows decoded exactly to float32, a tile at a
// time, and both summed in panelLanes (fast_f32.go), batches four vectors
// per weight load; F16 rows are read in place as []uint16 and summed in
// blockLanes (fast_blocklanes.go), Q4_0, Q4_K and Q6_K use their fast dot
// products (fast_quant.go, fast_kquant.go), and the other types fall back
// to the codec. Each fast path has an AVX2 assembly kernel on amd64 (F16's
// for rows of whole 32-value blocks) that gives the bits of its Go code.
// Data is read in place, so it must not change while the Matrix is in use.
type Matrix struct {
	Type     DType
	Rows     int
	Cols     int
	RowBytes int
	Data     []byte
	codec    *Codec
	// dotRows writes y[r-begin] = row r · x for the rows [begin, end).
	dotRows func(m *Matrix, y, x []float32, begin, end int)
	// floats, for the types summed in panelLanes, returns rows
	// [begin, end) as float32: in place, or decoded into buf.
	floats func(m *Matrix, buf []float32, begin, end int) []float32
	f32    []float32 // an F32 matrix's values, Data read in place
	u16    []uint16  // an F16 matrix's values, Data read in place
}

// NewMatrix checks that data holds rows×cols elements of type t.
func NewMatrix(t DType, rows, cols int, data []byte) (*Matrix, error) {
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != rb*int64(rows) {
		return nil, fmt.Errorf("%w: %d bytes for %d×%d %s (want %d)", ErrShape, len(data), rows, cols, t, rb*int64(rows))
	}
	c, err := t.Codec()
	if err != nil {
		return nil, err
	}
	m := &Matrix{Type: t, Rows: rows, Cols: cols, RowBytes: int(rb), Data: data, codec: c, dotRows: rowKernel(t)}
	switch t {
	case F32:
		m.f32 = viewF32(data)
		m.floats = inPlaceF32
	case Q8_0:
		m.floats = decodedQ8_0
	case F16:
		m.u16 = viewU16(data)
	}
	return m, nil
}

// Row returns the stored bytes of row r.
func (m *Matrix) Row(r int) []byte { return m.Data[r*m.RowBytes : (r+1)*m.RowBytes] }

// DequantizeRow writes row r as float32 into dst (len Cols).
func (m *Matrix) DequantizeRow(dst []float32, r int) { m.codec.Dequantize(dst, m.Row(r)) }

// minParallelWork is the number of multiply-adds below which a matmul runs
// on the calling goroutine. Handing work to another core costs a few
// microseconds; 2^18 F32 multiply-adds (a 512×512 matvec, 1 MiB of
// weights) take 20-50 µs on one core, so splitting pays from about there on
// an idle machine (BenchmarkMatVecSmall; on a loaded one the other core is
// seldom free and splitting gains little at any size).
const minParallelWork = 1 << 18

// chunksPerCore is how many pieces MatMul cuts its rows into per core, so
// that a core the OS takes away for a while holds the others up less.
const chunksPerCore = 4

// MatMul computes ys[i*Rows+r] = row r · xs[i*Cols:(i+1)*Cols] for the n
// vectors of xs, over all the machine's cores when the work is large
// enough. A batch of one is a matvec. Each output is computed by the same
// arithmetic whatever n and however the rows are split, so a batch gives
// the bits of n matvecs.
func (m *Matrix) MatMul(ys, xs []float32, n int) {
	if len(ys) < n*m.Rows || len(xs) < n*m.Cols {
		panic(fmt.Sprintf("kernels: MatMul of %d×%d by %d vectors with %d inputs and %d outputs", m.Rows, m.Cols, n, len(xs), len(ys)))
	}
	cores := runtime.GOMAXPROCS(0)
	if m.Rows*m.Cols*n < minParallelWork || cores == 1 {
		m.matmulRows(ys, xs, n, 0, m.Rows)
		return
	}
	chunk := max(8, (m.Rows+cores*chunksPerCore-1)/(cores*chunksPerCore))
	parallelFor(m.Rows, chunk, cores-1, func(begin, end int) {
		m.matmulRows(ys, xs, n, begin, end)
	})
}

// MatMuls runs ms[i].MatMul(ys[i], xs, n) for every i: matrices that read
// the same input (a block's query, key and value projections, say) share
// one hand-out of rows to the cores, which pays off where each alone would
// be too small to spread. Each output is computed as MatMul computes it.
func MatMuls(xs []float32, n int, ms []*Matrix, ys [][]float32) {
	rows, work := 0, 0
	for i, m := range ms {
		if len(ys[i]) < n*m.Rows || len(xs) < n*m.Cols {
			panic(fmt.Sprintf("kernels: MatMul of %d×%d by %d vectors with %d inputs and %d outputs", m.Rows, m.Cols, n, len(xs), len(ys[i])))
		}
		rows += m.Rows
		work += m.Rows * m.Cols * n
	}
	cores := runtime.GOMAXPROCS(0)
	if work < minParallelWork || cores == 1 {
		for i, m := range ms {
			m.matmulRows(ys[i], xs, n, 0, m.Rows)
		}
		return
	}
	chunk := max(8, (rows+cores*chunksPerCore-1)/(cores*chunksPerCore))
	parallelFor(rows, chunk, cores-1, func(begin, end int) {
		first := 0 // global index of ms[i]'s row 0
		for i, m := range ms {
			if b, e := max(begin-first, 0), min(end-first, m.Rows); b < e {
				m.matmulRows(ys[i], xs, n, b, e)
			}
			first += m.Rows
		}
	})
}

// ParallelFor calls fn on consecutive ranges of at most chunk indices
// covering [0,n), spread over the machine's cores (the calling goroutine
// among them), and returns when every call has returned. Ranges are handed
// out as cores become free, in order, so fn must not depend on which
// goroutine runs a range.
func ParallelFor(n, chunk int, fn func(begin, end int)) {
	parallelFor(n, max(1, chunk), runtime.GOMAXPROCS(0)-1, fn)
}

// matmulTile is how many rows of a batched matmul are dotted with every
// vector before moving on, so that they stay in cache meanwhile; tileBytes
// bounds the float32 values of those rows, for long rows.
const (
	matmulTile = 16
	tileBytes  = 256 << 10
)

// matmulRows does MatMul's work for rows [begin, end).
func (m *Matrix) matmulRows(ys, xs []float32, n, begin, end int) {
	if m.floats != nil {
		m.panelRows(ys, xs, n, begin, end)
		return
	}
	if n == 1 {
		m.dotRows(m, ys[begin:end], xs[:m.Cols], begin, end)
		return
	}
	for t := begin; t < end; t += matmulTile {
		te := min(t+matmulTile, end)
		for i := range n {
			m.dotRows(m, ys[i*m.Rows+t:i*m.Rows+te], xs[i*m.Cols:(i+1)*m.Cols], t, te)
		}
	}
}

// tilePool holds the buffers Q8_0 tiles are decoded into.
var tilePool sync.Pool

// panelRows is matmulRows for the types summed in panelLanes: a tile of
// rows at a time, as float32, dotted with four vectors per load and then
// the rest one by one.
func (m *Matrix) panelRows(ys, xs []float32, n, begin, end int) {
	c := m.Cols
	tile := matmulTile
	if c > 0 {
		tile = max(1, min(matmulTile, tileBytes/(4*c)))
	}
	var buf []float32
	if m.f32 != nil {
		if n == 1 {
			tile = end - begin // streamed once: no tiles needed
		}
	} else {
		if n == 1 && dotRowsQ8_0(m, ys[begin:end], xs[:c], begin, end) {
			return
		}
		p, _ := tilePool.Get().(*[]float32)
		if p == nil || len(*p) < tile*c {
			s := make([]float32, tile*c)
			p = &s
		}
		defer tilePool.Put(p)
		buf = *p
	}
	for t := begin; t < end; t += tile {
		te := min(t+tile, end)
		w := m.floats(m, buf, t, te)
		next := m.Data[te*m.RowBytes : min(te+tile, end)*m.RowBytes]
		i := dotRowsF32x4(ys[t:], m.Rows, w, c, xs, n, next)
		for ; i < n; i++ {
			dotRowsF32(ys[i*m.Rows+t:i*m.Rows+te], w, c, xs[i*c:(i+1)*c])
		}
	}
}

// inPlaceF32 is floats of an F32 matrix: its values, read in place.
func inPlaceF32(m *Matrix, _ []float32, begin, end int) []float32 {
	return m.f32[begin*m.Cols : end*m.Cols]
}

// decodedQ8_0 is floats of a Q8_0 matrix: the rows decoded into buf.
func decodedQ8_0(m *Matrix, buf []float32, begin, end int) []float32 {
	w := buf[:(end-begin)*m.Cols]
	decodeQ8_0Rows(w, m.Data[begin*m.RowBytes:end*m.RowBytes])
	return w
}

// rowKernel picks the row kernel of type t.
func rowKernel(t DType) func(m *Matrix, y, x []float32, begin, end int) {
	if t == F32 {
		return rowsF32
	}
	if f := quantRows[t]; f != nil {
		return f
	}
	return rowsCodec
}

// rowsF32 is an F32 matrix's row kernel.
func rowsF32(m *Matrix, y, x []float32, begin, end int) {
	dotRowsF32(y, m.f32[begin*m.Cols:end*m.Cols], m.Cols, x)
}

// rowsCodec is the row kernel of types without a fast path: the codec's
// Dot.
func rowsCodec(m *Matrix, y, x []float32, begin, end int) {
	for r := begin; r < end; r++ {
		y[r-begin] = m.codec.Dot(m.Row(r), x)
	}
}
