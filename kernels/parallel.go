package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

// minParallelWork is the number of multiply-adds below which a matmul runs
// on the calling goroutine: fanning out costs a few microseconds.
const minParallelWork = 1 << 15

// Matrix is a weight tensor held in its stored type: Rows rows of Cols
// elements, row r at Data[r*RowBytes:].
type Matrix struct {
	Type     DType
	Rows     int
	Cols     int
	RowBytes int
	Data     []byte
	codec    *Codec
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
	return &Matrix{Type: t, Rows: rows, Cols: cols, RowBytes: int(rb), Data: data, codec: c}, nil
}

// Row returns the stored bytes of row r.
func (m *Matrix) Row(r int) []byte { return m.Data[r*m.RowBytes : (r+1)*m.RowBytes] }

// DequantizeRow writes row r as float32 into dst (len Cols).
func (m *Matrix) DequantizeRow(dst []float32, r int) { m.codec.Dequantize(dst, m.Row(r)) }

// MatMul computes ys[i*Rows+r] = row r · xs[i*Cols:(i+1)*Cols] for the n
// vectors of xs, over all the machine's cores when the work is large
// enough. A batch of one is a matvec.
func (m *Matrix) MatMul(ys, xs []float32, n int) {
	work := m.Rows * m.Cols * n
	workers := runtime.GOMAXPROCS(0)
	if work < minParallelWork || workers == 1 {
		m.matmulRows(ys, xs, n, 0, m.Rows)
		return
	}
	chunk := (m.Rows + workers - 1) / workers
	var wg sync.WaitGroup
	for begin := 0; begin < m.Rows; begin += chunk {
		end := min(begin+chunk, m.Rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.matmulRows(ys, xs, n, begin, end)
		}()
	}
	wg.Wait()
}

// matmulRows does MatMul's work for rows [begin, end), row-major so each
// weight row is read once for the whole batch.
func (m *Matrix) matmulRows(ys, xs []float32, n, begin, end int) {
	dot := m.codec.Dot
	for r := begin; r < end; r++ {
		row := m.Row(r)
		for i := 0; i < n; i++ {
			ys[i*m.Rows+r] = dot(row, xs[i*m.Cols:(i+1)*m.Cols])
		}
	}
}
