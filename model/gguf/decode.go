package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	readBufferSize = 64 << 10
	// chunkSize bounds each allocation made for a string or array, so a
	// length that lies about a huge file costs memory only as real bytes
	// arrive.
	chunkSize = 1 << 20
	// capHint bounds the initial capacity of slices sized by a count.
	capHint = 1 << 12
)

// decoder reads the GGUF header sequentially and knows its absolute offset
// and how many bytes remain, so every length can be checked before it is
// allocated.
type decoder struct {
	r       *bufio.Reader
	off     int64
	size    int64
	version uint32
	buf     [8]byte
}

func newDecoder(r io.ReaderAt, size int64) *decoder {
	sr := io.NewSectionReader(r, 0, size)
	return &decoder{r: bufio.NewReaderSize(sr, int(min(size, readBufferSize))), size: size}
}

func (d *decoder) remaining() int64 { return d.size - d.off }

// failAt makes a *FormatError at offset off.
func failAt(off int64, err error, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...)}
}

// fail makes a *FormatError at the current offset.
func (d *decoder) fail(err error, format string, args ...any) *FormatError {
	return failAt(d.off, err, format, args...)
}

// need fails unless n more bytes remain.
func (d *decoder) need(n int64, what string) error {
	if n < 0 || n > d.remaining() {
		return d.fail(ErrTruncated, "%s needs %d bytes, %d left in the file", what, n, d.remaining())
	}
	return nil
}

// full reads exactly len(b) bytes, which the caller has checked remain.
func (d *decoder) full(b []byte) error {
	n, err := io.ReadFull(d.r, b)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: input ended early (%v)", ErrTruncated, err)
		}
		return &FormatError{Offset: d.off + int64(n), Err: err}
	}
	d.off += int64(len(b))
	return nil
}

// fixed reads a little-endian number of size bytes.
func (d *decoder) fixed(size int, what string) (uint64, error) {
	if err := d.need(int64(size), what); err != nil {
		return 0, err
	}
	if err := d.full(d.buf[:size]); err != nil {
		return 0, err
	}
	return getLE(d.buf[:size]), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	x, err := d.fixed(4, what)
	return uint32(x), err
}

func (d *decoder) u64(what string) (uint64, error) { return d.fixed(8, what) }

// lenSize is the size of counts and lengths: 4 bytes in version 1, else 8.
func (d *decoder) lenSize() int {
	if d.version == 1 {
		return 4
	}
	return 8
}

// count reads a count or length and checks that at least count*minSize
// bytes remain, so the caller may allocate for it.
func (d *decoder) count(minSize int64, what string) (int64, error) {
	start := d.off
	n, err := d.fixed(d.lenSize(), what)
	if err != nil {
		return 0, err
	}
	if minSize > 0 && n > uint64(d.remaining()/minSize) {
		if minSize == 1 {
			return 0, failAt(start, ErrTruncated, "%s %d exceeds the %d bytes left in the file", what, n, d.remaining())
		}
		return 0, failAt(start, ErrTruncated, "%s %d needs at least %d bytes each, %d left in the file",
			what, n, minSize, d.remaining())
	}
	return int64(n), nil
}

// bytes reads n bytes (already bounded by remaining), allocating in chunks.
func (d *decoder) bytes(n int64) ([]byte, error) {
	out := make([]byte, 0, min(n, chunkSize))
	for int64(len(out)) < n {
		k := int(min(n-int64(len(out)), chunkSize))
		out = append(out, make([]byte, k)...)
		if err := d.full(out[len(out)-k:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.count(1, what)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n)
	return string(b), err
}

// valueType reads a metadata value type and rejects unknown ones.
func (d *decoder) valueType(what string) (ValueType, error) {
	start := d.off
	t, err := d.u32(what)
	if err != nil {
		return 0, err
	}
	if !ValueType(t).Valid() {
		return 0, failAt(start, ErrValueType, "%d", t)
	}
	return ValueType(t), nil
}

// value reads a value of type t; depth counts the arrays around it.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch t {
	case TypeString:
		s, err := d.str("string length")
		return Value{typ: TypeString, str: s}, err
	case TypeArray:
		return d.array(depth)
	}
	bits, err := d.fixed(t.fixedSize(), t.String())
	return Value{typ: t, bits: bits}, err
}

// minSize is the fewest bytes an element of type t can take.
func (d *decoder) minSize(t ValueType) int64 {
	switch t {
	case TypeString:
		return int64(d.lenSize())
	case TypeArray:
		return 4 + int64(d.lenSize())
	}
	return int64(t.fixedSize())
}

func (d *decoder) array(depth int) (Value, error) {
	if depth >= MaxDepth {
		return Value{}, d.fail(ErrTooDeep, "more than %d levels", MaxDepth)
	}
	elem, err := d.valueType("element type")
	if err != nil {
		return Value{}, within(err, " element type")
	}
	n, err := d.count(d.minSize(elem), "array count")
	if err != nil {
		return Value{}, within(err, " count")
	}
	v := Value{typ: TypeArray, elem: elem}
	switch elem {
	case TypeString:
		v.strs, err = d.strings(n)
	case TypeArray:
		v.arrs, err = d.arrays(n, depth+1)
	default:
		v.raw, err = d.bytes(n * int64(elem.fixedSize()))
	}
	return v, err
}

func (d *decoder) strings(n int64) ([]string, error) {
	out := make([]string, 0, min(n, capHint))
	for i := range n {
		s, err := d.str("string length")
		if err != nil {
			return nil, within(err, fmt.Sprintf("[%d]", i))
		}
		out = append(out, s)
	}
	return out, nil
}

func (d *decoder) arrays(n int64, depth int) ([]Value, error) {
	out := make([]Value, 0, min(n, capHint))
	for i := range n {
		elem, err := d.array(depth)
		if err != nil {
			return nil, within(err, fmt.Sprintf("[%d]", i))
		}
		out = append(out, elem)
	}
	return out, nil
}

// checkedMul multiplies non-negative a and b, reporting overflow of int64.
func checkedMul(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > math.MaxInt64/b {
		return 0, false
	}
	return a * b, true
}

// alignUp rounds n up to a multiple of align (a power of two), reporting
// overflow of int64.
func alignUp(n, align int64) (int64, bool) {
	if n > math.MaxInt64-(align-1) {
		return 0, false
	}
	return (n + align - 1) &^ (align - 1), true
}
