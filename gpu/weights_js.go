//go:build js && wasm

package gpu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
)

// Weights is a 2-D tensor in GPU memory in its stored type, split into
// row chunks, one buffer each. Rows keep their size; Split rows (Q4_0 and
// Q8_0 with a multiple of 256 values, Q6_K with a multiple of 2048: see
// wgsl.Split) hold their blocks' scales first and the rest of their
// blocks after (wgsl.SplitRows), every other row its GGUF bytes.
type Weights struct {
	Type       kernels.DType
	Rows, Cols int
	RowBytes   int64
	Split      bool
	Chunks     []Chunk
	Buffers    []*Buffer
}

// NewWeights allocates the buffers of a rows × cols tensor of type t in
// chunks of at most maxChunk bytes (0: the device's binding limit). A
// type no kernel reads (BF16) is refused before anything is allocated
// (wgsl.ErrUnsupported).
func (d *Device) NewWeights(t kernels.DType, rows, cols int, maxChunk int64) (*Weights, error) {
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return nil, err
	}
	if _, err := wgsl.Units(t, cols); err != nil {
		return nil, err
	}
	limit := d.Limits.MaxStorageBufferBindingSize
	if maxChunk > 0 {
		limit = min(limit, maxChunk)
	}
	limit = min(limit, d.Limits.MaxBufferSize)
	chunks, err := PlanChunks(rows, rb, limit)
	if err != nil {
		return nil, err
	}
	w := &Weights{Type: t, Rows: rows, Cols: cols, RowBytes: rb, Split: wgsl.Split(t, cols) && !d.NoSplit, Chunks: chunks}
	for _, c := range chunks {
		b, err := d.NewStorage(c.BufferBytes())
		if err != nil {
			w.Destroy()
			return nil, err
		}
		w.Buffers = append(w.Buffers, b)
	}
	return w, nil
}

// Bytes is the tensor's size as stored.
func (w *Weights) Bytes() int64 { return w.RowBytes * int64(w.Rows) }

// Destroy frees the buffers.
func (w *Weights) Destroy() {
	for _, b := range w.Buffers {
		b.Destroy()
	}
	w.Buffers = nil
}

// UploadWeights copies a tensor held in memory (rows × cols of t) to the
// GPU.
func (d *Device) UploadWeights(t kernels.DType, rows, cols int, data []byte, maxChunk int64) (*Weights, error) {
	w, err := d.NewWeights(t, rows, cols, maxChunk)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != w.Bytes() {
		w.Destroy()
		return nil, fmt.Errorf("%w: %d bytes for %d×%d %s", kernels.ErrShape, len(data), rows, cols, t)
	}
	for i, c := range w.Chunks {
		rows, err := w.layout(data[int64(c.RowBegin)*w.RowBytes : int64(c.RowEnd)*w.RowBytes])
		if err != nil {
			w.Destroy()
			return nil, err
		}
		d.Write(w.Buffers[i], 0, rows)
	}
	return w, nil
}

// layout returns whole rows of the tensor as the GPU holds them: a split
// copy of data when w is split, data itself otherwise.
func (w *Weights) layout(data []byte) ([]byte, error) {
	if !w.Split {
		return data, nil
	}
	return w.layoutInPlace(bytes.Clone(data))
}

// layoutInPlace is layout for data the caller owns: split rows are split
// where they are, with no copy.
func (w *Weights) layoutInPlace(data []byte) ([]byte, error) {
	if !w.Split {
		return data, nil
	}
	return data, wgsl.SplitRows(w.Type, w.Cols, data)
}

// uploadPiece is how much of a tensor is read into wasm memory at once
// when streaming it from a model file.
const uploadPiece = 4 << 20

// Rows reads rows [begin, end) of a tensor of a model's file into a new
// slice, which the caller may change.
type Rows func(t *gguf.TensorInfo, begin, end int64) ([]byte, error)

// rowsReader is a model that can read row ranges itself.
type rowsReader interface {
	ReadRows(t *gguf.TensorInfo, begin, end int64) ([]byte, error)
}

// RowsOf returns how to read m's rows: from src (the reader m was loaded
// from: a file, or HTTP Range requests in a tab) when given, else through
// m itself if it can. model.Model keeps its reader private, so a caller
// that has the reader should pass it.
func RowsOf(m *model.Model, src io.ReaderAt) (Rows, error) {
	if src != nil {
		return func(t *gguf.TensorInfo, b, e int64) ([]byte, error) { return m.File.ReadRows(src, t, b, e) }, nil
	}
	if r, ok := any(m).(rowsReader); ok { // its bytes may be the model's own
		return func(t *gguf.TensorInfo, b, e int64) ([]byte, error) {
			data, err := r.ReadRows(t, b, e)
			return bytes.Clone(data), err
		}, nil
	}
	return nil, fmt.Errorf("gpu: no reader for the model's tensor data (pass LoaderOptions.Source)")
}

// LoadWeights streams the tensor name (rows × cols) of m into GPU buffers,
// a few MiB of rows at a time read with rows (over HTTP Range in a tab),
// so that no large tensor is ever whole in wasm memory.
func (d *Device) LoadWeights(ctx context.Context, m *model.Model, rowsOf Rows, name string, rows, cols int, maxChunk int64) (*Weights, error) {
	return d.LoadStacked(ctx, m, rowsOf, []Part{{Name: name, Rows: rows}}, cols, maxChunk)
}

// Part is one tensor of a stack: its name and rows.
type Part struct {
	Name string
	Rows int
}

// LoadStacked loads tensors of cols columns as one: their rows one after
// another, in order (q, k and v as one matrix, so that one matvec computes
// all three). They must share a type (Stackable).
func (d *Device) LoadStacked(ctx context.Context, m *model.Model, rowsOf Rows, parts []Part, cols int, maxChunk int64) (*Weights, error) {
	tis, err := stackInfo(m, parts, cols)
	if err != nil {
		return nil, err
	}
	w, err := d.NewWeights(tis[0].Type, totalRows(parts), cols, maxChunk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", parts[0].Name, err)
	}
	start := time.Now()
	at := 0
	for i, p := range parts {
		if err := d.loadInto(ctx, w, at, tis[i], p.Rows, rowsOf); err != nil {
			w.Destroy()
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		at += p.Rows
	}
	d.log.Debug("weights loaded", "tensor", parts[0].Name, "parts", len(parts), "bytes", w.Bytes(), "ms", time.Since(start).Milliseconds())
	return w, nil
}

// Stackable reports whether the tensors can be loaded as one (LoadStacked,
// GenerateStacked): one type, and rows of whole words so that each
// tensor's rows start at a word in a chunk.
func Stackable(m *model.Model, parts []Part, cols int) bool {
	_, err := stackInfo(m, parts, cols)
	return err == nil
}

// stackInfo checks the tensors' shapes and types.
func stackInfo(m *model.Model, parts []Part, cols int) ([]*gguf.TensorInfo, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no tensors to stack", model.ErrTensor)
	}
	tis := make([]*gguf.TensorInfo, len(parts))
	for i, p := range parts {
		ti, ok := m.File.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", model.ErrTensor, p.Name)
		}
		if len(ti.Dims) != 2 || ti.Dims[0] != uint64(cols) || ti.Dims[1] != uint64(p.Rows) {
			return nil, fmt.Errorf("%w: %s has dims %v, want [%d %d]", model.ErrTensor, p.Name, ti.Dims, cols, p.Rows)
		}
		if i > 0 && ti.Type != tis[0].Type {
			return nil, fmt.Errorf("%w: %s is %s, %s is %s", model.ErrTensor, p.Name, ti.Type, parts[0].Name, tis[0].Type)
		}
		tis[i] = ti
	}
	if len(parts) > 1 {
		rb, err := tis[0].Type.RowBytes(int64(cols))
		if err != nil {
			return nil, err
		}
		if rb%4 != 0 {
			return nil, fmt.Errorf("%w: rows of %d bytes do not stack", model.ErrTensor, rb)
		}
	}
	return tis, nil
}

func totalRows(parts []Part) int {
	n := 0
	for _, p := range parts {
		n += p.Rows
	}
	return n
}

// span is the rows [begin, end) of a tensor stacked in w at row at that
// fall in chunk: they start at byte off of its buffer.
type span struct {
	chunk      int
	begin, end int
	off        int64
}

// spans are where rows [0, rows) of a tensor stacked at row at go.
func (w *Weights) spans(at, rows int) []span {
	var out []span
	for i, c := range w.Chunks {
		b, e := max(c.RowBegin, at), min(c.RowEnd, at+rows)
		if b < e {
			out = append(out, span{chunk: i, begin: b - at, end: e - at, off: int64(b-c.RowBegin) * w.RowBytes})
		}
	}
	return out
}

// readAhead is how many pieces are requested ahead of the one being
// written: the network (and the Range server) works while the GPU copies.
const readAhead = 3

// piece is rows [row, row+n) of a tensor, bound for chunk's buffer at off.
type piece struct {
	chunk  int
	off    int64
	row, n int
}

// pieces cuts the rows [0, rows) of a tensor stacked in w at row at into
// uploadPiece-sized reads.
func (w *Weights) pieces(at, rows int) []piece {
	var out []piece
	for _, sp := range w.spans(at, rows) {
		off, row := sp.off, sp.begin
		for _, n := range UploadPieces(sp.end-sp.begin, w.RowBytes, uploadPiece) {
			out = append(out, piece{chunk: sp.chunk, off: off, row: row, n: n})
			off, row = off+int64(n)*w.RowBytes, row+n
		}
	}
	return out
}

// fetched is a piece's bytes as the GPU holds them, or why not.
type fetched struct {
	data []byte
	err  error
}

// loadInto streams a tensor's rows into w from row at on, readAhead
// pieces in flight, so that at most readAhead+1 pieces are in wasm memory.
func (d *Device) loadInto(ctx context.Context, w *Weights, at int, ti *gguf.TensorInfo, rows int, rowsOf Rows) error {
	ps := w.pieces(at, rows)
	pending := make([]chan fetched, len(ps))
	fetch := func(i int) {
		ch := make(chan fetched, 1) // a read whose piece is no longer wanted ends alone
		pending[i] = ch
		go func(p piece) {
			data, err := rowsOf(ti, int64(p.row), int64(p.row+p.n))
			if err != nil {
				ch <- fetched{err: fmt.Errorf("rows [%d,%d): %w", p.row, p.row+p.n, err)}
				return
			}
			data, err = w.layoutInPlace(data) // rowsOf's slice is ours
			ch <- fetched{data: data, err: err}
		}(ps[i])
	}
	for i := range min(readAhead, len(ps)) {
		fetch(i)
	}
	for i, p := range ps {
		var f fetched
		select {
		case f = <-pending[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		if next := i + readAhead; next < len(ps) {
			fetch(next)
		}
		d.Write(w.Buffers[p.chunk], p.off, f.data)
		pending[i] = nil
	}
	return nil
}
