package synth

import "io"

// SparseFile is a file in memory that keeps only the chunks written to it
// that hold a non-zero byte: a seeded or zero 70B model is a few MB of
// header and tens of GB of zeros, which it does not store. Write appends;
// ReadAt reads zeros where nothing was kept. WriteTo of a gguf.Writer
// leaves its zero tensors as holes here (gguf.HoleWriter).
type SparseFile struct {
	size     int64
	segments []segment // in offset order
}

type segment struct {
	off  int64
	data []byte
}

// Write appends p.
func (f *SparseFile) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != 0 {
			f.segments = append(f.segments, segment{f.size, append([]byte(nil), p...)})
			break
		}
	}
	f.size += int64(len(p))
	return len(p), nil
}

// WriteHole appends n zero bytes, kept as nothing (gguf.HoleWriter).
func (f *SparseFile) WriteHole(n int64) error {
	f.size += n
	return nil
}

// Size is the number of bytes written.
func (f *SparseFile) Size() int64 { return f.size }

// ReadAt implements io.ReaderAt.
func (f *SparseFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-off))
	clear(p[:n])
	for _, s := range f.segments {
		if s.off >= off+int64(n) {
			break
		}
		if end := s.off + int64(len(s.data)); end > off {
			from := max(off, s.off)
			copy(p[from-off:n], s.data[from-s.off:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
