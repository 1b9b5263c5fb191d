package gguf

import (
	"fmt"
	"math"
)

// encoder writes header fields to a sink, keeping the first error so that
// the header code reads as a sequence of fields.
type encoder struct {
	s       *sink
	version uint32
	buf     [8]byte
	err     error
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.s.Write(b)
	}
}

func (e *encoder) fixed(x uint64, size int) {
	putLE(e.buf[:size], x)
	e.raw(e.buf[:size])
}

func (e *encoder) u32(x uint32) { e.fixed(uint64(x), 4) }

// count writes a count or length: 32 bits in version 1, else 64.
func (e *encoder) count(n int64, what string) {
	if e.version == 1 && n > math.MaxUint32 {
		e.setErr(fmt.Errorf("gguf: %s %d does not fit in version 1's 32 bits", what, n))
	}
	e.fixed(uint64(n), e.lenSize())
}

func (e *encoder) lenSize() int {
	if e.version == 1 {
		return 4
	}
	return 8
}

func (e *encoder) setErr(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) str(s, what string) {
	e.count(int64(len(s)), what+" length")
	if e.err == nil {
		_, e.err = e.s.WriteString(s)
	}
}

// value writes the body of v (its type is written by the caller).
func (e *encoder) value(v Value, key string) {
	switch v.typ {
	case TypeString:
		e.str(v.str, fmt.Sprintf("key %q string", key))
	case TypeArray:
		e.array(v, key)
	default:
		e.fixed(v.bits, v.typ.fixedSize())
	}
}

func (e *encoder) array(v Value, key string) {
	e.u32(uint32(v.elem))
	e.count(int64(v.Len()), fmt.Sprintf("key %q array count", key))
	switch v.elem {
	case TypeString:
		for _, s := range v.strs {
			e.str(s, fmt.Sprintf("key %q string", key))
		}
	case TypeArray:
		for _, a := range v.arrs {
			e.array(a, key)
		}
	default:
		e.raw(v.raw)
	}
}

func (e *encoder) tensorInfo(t *TensorInfo) {
	e.str(t.Name, "tensor name")
	e.u32(uint32(len(t.Dims)))
	for _, d := range t.Dims {
		if e.version == 1 && d > math.MaxUint32 {
			e.setErr(fmt.Errorf("gguf: tensor %q: dimension %d does not fit in version 1's 32 bits", t.Name, d))
		}
		e.fixed(d, e.lenSize())
	}
	e.u32(uint32(t.Type))
	e.fixed(uint64(t.Offset), 8)
}
