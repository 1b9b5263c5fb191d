package gguf

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tabshard/tabshard/kernels"
)

// Writer builds a GGUF file: metadata and tensors are added first, then
// WriteTo or WriteFile streams the file tensor by tensor in the layout ggml
// writes. Once an Add or Set method has failed, WriteTo returns that first
// error. The zero Writer is not usable; call NewWriter.
type Writer struct {
	version uint32
	align   int64
	kvs     []KV
	keys    map[string]int
	tensors []wtensor
	names   map[string]bool
	err     error // first error of an Add method; WriteTo returns it
}

// wtensor is a tensor to write; data nil means all zeros.
type wtensor struct {
	info TensorInfo // Offset is relative to the data section
	data func(w io.Writer) error
}

// NewWriter returns a Writer for GGUF version 3 with alignment 32.
func NewWriter() *Writer {
	return &Writer{
		version: 3,
		align:   DefaultAlignment,
		keys:    map[string]int{},
		names:   map[string]bool{},
	}
}

// SetVersion selects the GGUF version to write: 1, 2 or 3.
func (w *Writer) SetVersion(v uint32) error {
	if v < 1 || v > 3 {
		return w.fail(fmt.Errorf("gguf: %w: %d", ErrVersion, v))
	}
	w.version = v
	return nil
}

// SetAlignment sets the alignment of the data section and of each tensor.
// Any value other than 32 is recorded as the general.alignment key (added
// last, or replaced where it already is).
func (w *Writer) SetAlignment(a int64) error {
	if a <= 0 || a > math.MaxUint32 || a&(a-1) != 0 {
		return w.fail(fmt.Errorf("gguf: %w: %d is not a power of two up to 2^31", ErrAlignment, a))
	}
	if i, ok := w.keys[KeyAlignment]; ok {
		w.kvs[i].Value = Uint32(uint32(a))
	} else if a != DefaultAlignment {
		w.kvs = append(w.kvs, KV{KeyAlignment, Uint32(uint32(a))})
		w.keys[KeyAlignment] = len(w.kvs) - 1
	}
	w.align = a
	w.relayout()
	return nil
}

// Add appends a metadata pair. Adding general.alignment sets the alignment.
func (w *Writer) Add(key string, v Value) error {
	if _, dup := w.keys[key]; dup {
		return w.fail(fmt.Errorf("gguf: key %q: %w", key, ErrDuplicate))
	}
	if err := v.check(0); err != nil {
		return w.fail(fmt.Errorf("gguf: key %q: %w", key, err))
	}
	if key == KeyAlignment {
		f := File{}
		if err := setAlignment(&f, v); err != nil {
			return w.fail(fmt.Errorf("gguf: key %q: %w", key, err))
		}
		w.align = f.Alignment
		w.relayout()
	}
	w.kvs = append(w.kvs, KV{key, v})
	w.keys[key] = len(w.kvs) - 1
	return nil
}

// AddTensor appends a tensor whose data the function data writes when the
// file is written; it must write exactly the size the type and dims need.
func (w *Writer) AddTensor(name string, typ kernels.DType, dims []uint64, data func(w io.Writer) error) error {
	if data == nil {
		return w.fail(fmt.Errorf("gguf: tensor %q: no data source", name))
	}
	return w.addTensor(name, typ, dims, data)
}

// AddZeroTensor appends a tensor whose data is all zeros. Written to an
// *os.File, its data becomes a hole that costs no disk.
func (w *Writer) AddZeroTensor(name string, typ kernels.DType, dims []uint64) error {
	return w.addTensor(name, typ, dims, nil)
}

// AddTensorBytes appends a tensor whose data is b, which must have exactly
// the size the type and dims need. b is not copied.
func (w *Writer) AddTensorBytes(name string, typ kernels.DType, dims []uint64, b []byte) error {
	size, err := tensorSize(typ, dims)
	if err == nil && size != int64(len(b)) {
		err = fmt.Errorf("%w: %d bytes, want %d for %v %v", ErrTensorSize, len(b), size, typ, dims)
	}
	if err != nil {
		return w.fail(fmt.Errorf("gguf: tensor %q: %w", name, err))
	}
	return w.addTensor(name, typ, dims, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func (w *Writer) addTensor(name string, typ kernels.DType, dims []uint64, data func(io.Writer) error) error {
	if w.names[name] {
		return w.fail(fmt.Errorf("gguf: tensor %q: %w", name, ErrDuplicate))
	}
	size, err := tensorSize(typ, dims)
	if err != nil {
		return w.fail(fmt.Errorf("gguf: tensor %q: %w", name, err))
	}
	info := TensorInfo{Name: name, Type: typ, Dims: append([]uint64(nil), dims...), Size: size}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: info, data: data})
	w.relayout()
	return nil
}

// Tensors returns the index the written file will have, with offsets
// relative to the data section.
func (w *Writer) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(w.tensors))
	for i, t := range w.tensors {
		out[i] = t.info
	}
	return out
}

// relayout packs the tensors one after another, each at a multiple of the
// alignment, as ggml does.
func (w *Writer) relayout() {
	var off int64
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		if t.Size > math.MaxInt64-off {
			w.fail(fmt.Errorf("gguf: tensor %q: %w: data section overflows", t.Name, ErrShape))
			return
		}
		end, ok := alignUp(off+t.Size, w.align)
		if !ok {
			w.fail(fmt.Errorf("gguf: tensor %q: %w: data section overflows", t.Name, ErrShape))
			return
		}
		off = end
	}
}

// fail records the first error and returns err.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// WriteFile writes the file at path, replacing it. All-zero tensors become
// holes, so a file of zero weights costs little disk. On error the partial
// file is removed.
func (w *Writer) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = w.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// WriteTo writes the file to dst and returns its size. When dst is an
// *os.File positioned at its end (a new file), zero tensors are skipped
// with Seek and the file is extended with Truncate, leaving holes.
func (w *Writer) WriteTo(dst io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	s := newSink(dst)
	e := &encoder{s: s, version: w.version}
	w.header(e)
	if e.err != nil {
		return s.n, e.err
	}
	if err := s.pad(w.align); err != nil {
		return s.n, err
	}
	for i := range w.tensors {
		if err := w.writeTensor(s, &w.tensors[i]); err != nil {
			return s.n, err
		}
	}
	return s.n, s.finish()
}

func (w *Writer) header(e *encoder) {
	e.raw([]byte(Magic))
	e.u32(w.version)
	e.count(int64(len(w.tensors)), "tensor count")
	e.count(int64(len(w.kvs)), "kv count")
	for _, kv := range w.kvs {
		e.str(kv.Key, "key")
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value, kv.Key)
	}
	for i := range w.tensors {
		e.tensorInfo(&w.tensors[i].info)
	}
}

// writeTensor writes one tensor's data and its padding.
func (w *Writer) writeTensor(s *sink, t *wtensor) error {
	var err error
	if t.data == nil {
		err = s.zeros(t.info.Size)
	} else {
		tw := &tensorWriter{s: s, left: t.info.Size, name: t.info.Name}
		err = t.data(tw)
		if err == nil && tw.left != 0 {
			err = fmt.Errorf("%w: data source wrote %d bytes, want %d",
				ErrTensorSize, t.info.Size-tw.left, t.info.Size)
		}
	}
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", t.info.Name, err)
	}
	return s.pad(w.align)
}

// tensorWriter passes a tensor's data through and refuses more than its size.
type tensorWriter struct {
	s    *sink
	left int64
	name string
}

func (t *tensorWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > t.left {
		return 0, fmt.Errorf("%w: data source writes more than the tensor's size", ErrTensorSize)
	}
	n, err := t.s.Write(p)
	t.left -= int64(n)
	return n, err
}
