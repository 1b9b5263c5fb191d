package gguf

import (
	"bufio"
	"io"
	"os"
)

const writeBufferSize = 64 << 10

var zeroBlock [64 << 10]byte

// sink is the destination of a Writer: buffered, counting, and able to skip
// over zero regions of a file instead of writing them.
// HoleWriter is a destination that records a run of zero bytes without
// being given them: a sparse file in memory, say. WriteTo leaves its zero
// tensors as holes.
type HoleWriter interface {
	io.Writer
	WriteHole(n int64) error
}

type sink struct {
	bw    *bufio.Writer
	holes HoleWriter // non-nil when dst takes holes
	file  *os.File   // non-nil when zero regions may be left as holes
	n     int64      // bytes emitted, written or skipped
	hole  bool       // the last thing emitted was a skipped region
}

func newSink(w io.Writer) *sink {
	h, _ := w.(HoleWriter)
	return &sink{bw: bufio.NewWriterSize(w, writeBufferSize), holes: h, file: holeable(w)}
}

// holeable returns w as an *os.File if it is a regular file positioned at
// its end: everything past that reads as zeros, so seeking there is safe.
func holeable(w io.Writer) *os.File {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil || pos != st.Size() {
		return nil
	}
	return f
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.bw.Write(p)
	s.n += int64(n)
	if n > 0 {
		s.hole = false
	}
	return n, err
}

func (s *sink) WriteString(p string) (int, error) {
	n, err := s.bw.WriteString(p)
	s.n += int64(n)
	if n > 0 {
		s.hole = false
	}
	return n, err
}

// zeros emits n zero bytes, as a hole when the destination allows.
func (s *sink) zeros(n int64) error {
	if n == 0 {
		return nil
	}
	if (s.file == nil && s.holes == nil) || n < int64(len(zeroBlock)) {
		return s.writeZeros(n)
	}
	if s.holes != nil {
		if err := s.bw.Flush(); err != nil {
			return err
		}
		s.n += n
		return s.holes.WriteHole(n)
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if _, err := s.file.Seek(n, io.SeekCurrent); err != nil {
		return err
	}
	s.n += n
	s.hole = true
	return nil
}

func (s *sink) writeZeros(n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeroBlock)))
		if _, err := s.Write(zeroBlock[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// pad writes zeros up to the next multiple of align.
func (s *sink) pad(align int64) error {
	return s.writeZeros((align - s.n%align) % align)
}

// finish flushes and, if the file ends in a hole, extends it to its size.
func (s *sink) finish() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if !s.hole {
		return nil
	}
	end, err := s.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	return s.file.Truncate(end)
}
