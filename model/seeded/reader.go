package seeded

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/tabshard/tabshard/model/gguf"
)

// Reader reads a seeded file: the header from r, tensor data generated
// from the seed, and zeros between tensors, as the file stores them.
type Reader struct {
	f       *gguf.File
	r       io.ReaderAt
	seed    uint32
	tensors []*gguf.TensorInfo // by offset
}

// NewReader makes the reader of f, a seeded file whose bytes r holds.
func NewReader(f *gguf.File, r io.ReaderAt, seed uint32) *Reader {
	ts := make([]*gguf.TensorInfo, len(f.Tensors))
	for i := range f.Tensors {
		ts[i] = &f.Tensors[i]
	}
	slices.SortFunc(ts, func(a, b *gguf.TensorInfo) int { return cmp.Compare(a.Offset, b.Offset) })
	return &Reader{f: f, r: r, seed: seed, tensors: ts}
}

// ReadAt implements io.ReaderAt.
func (s *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("seeded: negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= s.f.Size {
			return n, io.EOF
		}
		m, err := s.readSome(p[n:min(len(p), n+int(s.f.Size-at))], at)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readSome fills a prefix of p from at: header bytes, one tensor's data
// or the gap before the next tensor.
func (s *Reader) readSome(p []byte, at int64) (int, error) {
	if at < s.f.DataOffset {
		return s.r.ReadAt(p[:min(int64(len(p)), s.f.DataOffset-at)], at)
	}
	i, _ := slices.BinarySearchFunc(s.tensors, at, func(t *gguf.TensorInfo, at int64) int {
		switch {
		case t.End() <= at:
			return -1
		case t.Offset > at:
			return 1
		}
		return 0
	})
	if i == len(s.tensors) || s.tensors[i].Offset > at { // a gap: zeros
		end := s.f.Size
		if i < len(s.tensors) {
			end = s.tensors[i].Offset
		}
		q := p[:min(int64(len(p)), end-at)]
		clear(q)
		return len(q), nil
	}
	t := s.tensors[i]
	q := p[:min(int64(len(p)), t.End()-at)]
	rb := t.RowBytes()
	if rb == 0 {
		return 0, fmt.Errorf("%w: tensor %s", ErrType, t.Name)
	}
	first, last := (at-t.Offset)/rb, (at-t.Offset+int64(len(q))-1)/rb
	rows := make([]byte, (last-first+1)*rb)
	if err := Rows(rows, t, s.seed, first, last+1); err != nil {
		return 0, err
	}
	copy(q, rows[at-t.Offset-first*rb:])
	return len(q), nil
}
