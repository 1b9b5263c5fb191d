package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxFrame is the largest frame: a WebRTC data channel message.
const MaxFrame = 256 << 10

// headerSize is a frame's header: magic "TS", version, kind, message id
// (8 bytes), frame index and frame count (4 bytes each).
const headerSize = 2 + 1 + 1 + 8 + 4 + 4

// DefaultMaxMessage bounds a reassembled message: a prefill activation of
// a large model is a few MiB, far below.
const DefaultMaxMessage = 64 << 20

const (
	magic0, magic1 = 'T', 'S'
	version        = 1
	// KindActivation frames carry a tabshardv1.Activation.
	KindActivation = 1
)

// Errors of a refused frame.
var (
	ErrFrame    = errors.New("malformed frame")
	ErrTooLarge = errors.New("message too large")
)

// Frame is one frame to send: its header and its body, pieces of the
// sender's buffers (not copied). A transport writes them straight into the
// buffer it hands the link: the one copy out of Go memory.
type Frame struct {
	Header [headerSize]byte
	Body   [][]byte
}

// Len is the frame's size in bytes.
func (f *Frame) Len() int {
	n := headerSize
	for _, b := range f.Body {
		n += len(b)
	}
	return n
}

// AppendTo appends the frame's bytes to dst.
func (f *Frame) AppendTo(dst []byte) []byte {
	dst = append(dst, f.Header[:]...)
	for _, b := range f.Body {
		dst = append(dst, b...)
	}
	return dst
}

// Frames cuts the message made of parts (concatenated) into frames of at
// most maxFrame bytes with id, without copying: each frame's Body is
// sub-slices of parts.
func Frames(kind byte, id uint64, maxFrame int, parts ...[]byte) []Frame {
	room, total := maxFrame-headerSize, 0
	for _, p := range parts {
		total += len(p)
	}
	count := max(1, (total+room-1)/room)
	frames := make([]Frame, count)
	part, off := 0, 0 // where the next frame's body starts
	for i := range frames {
		f := &frames[i]
		f.Header[0], f.Header[1], f.Header[2], f.Header[3] = magic0, magic1, version, kind
		binary.LittleEndian.PutUint64(f.Header[4:], id)
		binary.LittleEndian.PutUint32(f.Header[12:], uint32(i))
		binary.LittleEndian.PutUint32(f.Header[16:], uint32(count))
		for left := room; left > 0 && part < len(parts); {
			take := min(left, len(parts[part])-off)
			if take > 0 {
				f.Body = append(f.Body, parts[part][off:off+take])
			}
			left, off = left-take, off+take
			if off == len(parts[part]) {
				part, off = part+1, 0
			}
		}
	}
	return frames
}

// Split cuts msg into frames of at most MaxFrame bytes with id, each a
// copy.
func Split(kind byte, id uint64, msg []byte) [][]byte {
	fs := Frames(kind, id, MaxFrame, msg)
	out := make([][]byte, len(fs))
	for i := range fs {
		out[i] = fs[i].AppendTo(make([]byte, 0, fs[i].Len()))
	}
	return out
}

// Received is a frame as a transport received it, where it lies (a
// JavaScript buffer in a browser). Read copies its first len(dst) bytes
// into dst: the Reassembler reads the header, then the whole frame so
// that its body lands where the message is put back together — the one
// copy into Go memory, with no view to make on the JavaScript side (a
// Go-held JavaScript object costs far more than 20 bytes copied twice).
type Received interface {
	Len() int
	Read(dst []byte)
}

// Bytes is a Received frame in Go memory.
type Bytes []byte

func (b Bytes) Len() int        { return len(b) }
func (b Bytes) Read(dst []byte) { copy(dst, b) }

// Owned is a Received frame in Go memory that the transport hands over
// for good (it copied it there itself): a message of one frame is its
// body, not another copy.
type Owned []byte

func (b Owned) Len() int        { return len(b) }
func (b Owned) Read(dst []byte) { copy(dst, b) }

// header is a parsed frame header.
type header struct {
	kind         byte
	id           uint64
	index, count uint32
}

// parse reads r's header; the body is the Len()-headerSize bytes after.
func parse(r Received, maxFrame int) (header, error) {
	var f [headerSize]byte
	switch n := r.Len(); {
	case n > maxFrame:
		return header{}, fmt.Errorf("%w: a %d-byte frame (at most %d)", ErrFrame, n, maxFrame)
	case n < headerSize:
		return header{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrFrame, n)
	}
	r.Read(f[:])
	if f[0] != magic0 || f[1] != magic1 || f[2] != version {
		return header{}, fmt.Errorf("%w: bad magic or version % x", ErrFrame, f[:3])
	}
	h := header{kind: f[3], id: binary.LittleEndian.Uint64(f[4:]), index: binary.LittleEndian.Uint32(f[12:]), count: binary.LittleEndian.Uint32(f[16:])}
	if h.count == 0 || h.index >= h.count {
		return h, fmt.Errorf("%w: frame %d of %d", ErrFrame, h.index, h.count)
	}
	return h, nil
}

// Reassembler puts one sender's frames back into messages. Frames of a
// message must come in order (data channels and BroadcastChannel keep
// order); a malformed frame drops only its own message.
type Reassembler struct {
	// MaxMessage bounds a message (0: DefaultMaxMessage).
	MaxMessage int
	// MaxPending bounds the messages in flight at once (0: 16); the
	// oldest goes when another starts.
	MaxPending int
	// Timeout drops a message whose next frame is this late (0: 10s).
	Timeout time.Duration
	// MaxFrame bounds a frame (0: MaxFrame): the transport's FrameLimit.
	MaxFrame int

	pending map[uint64]*partial
}

type partial struct {
	kind byte
	next uint32
	buf  []byte
	last time.Time
}

// Add takes a frame received at now and returns a complete message when
// this frame ends one (kind, bytes), or nil.
func (r *Reassembler) Add(frame []byte, now time.Time) (byte, []byte, error) {
	return r.AddFrom(Bytes(frame), now)
}

// preallocate bounds the buffer a message's first frame reserves: more
// comes only as frames arrive.
const preallocate = 16 << 20

// AddFrom is Add for a frame where the transport holds it: its body is
// read once, into the message's own buffer.
func (r *Reassembler) AddFrom(frame Received, now time.Time) (byte, []byte, error) {
	maxFrame := r.MaxFrame
	if maxFrame <= 0 {
		maxFrame = MaxFrame
	}
	h, err := parse(frame, maxFrame)
	if err != nil {
		return 0, nil, err
	}
	limit := r.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	n := frame.Len() - headerSize
	if int64(h.count)*int64(maxFrame-headerSize) > int64(limit)+int64(maxFrame) || n > limit {
		return 0, nil, fmt.Errorf("%w: %d frames announced (at most %d bytes)", ErrTooLarge, h.count, limit)
	}
	if h.count == 1 {
		if o, ok := frame.(Owned); ok {
			return h.kind, o[headerSize:], nil
		}
		whole := make([]byte, headerSize+n)
		frame.Read(whole)
		return h.kind, whole[headerSize:], nil
	}
	r.expire(now)
	p := r.pending[h.id]
	switch {
	case p == nil && h.index != 0:
		return 0, nil, fmt.Errorf("%w: frame %d of message %x without its start", ErrFrame, h.index, h.id)
	case p == nil:
		// buf starts with a header's room: each frame is read whole to
		// just before where its body goes (see below).
		p = &partial{kind: h.kind, buf: make([]byte, headerSize, headerSize+min(int64(h.count)*int64(n), int64(limit), preallocate))}
		r.add(h.id, p)
	case h.index != p.next || h.kind != p.kind:
		delete(r.pending, h.id)
		return 0, nil, fmt.Errorf("%w: frame %d of message %x, expected %d", ErrFrame, h.index, h.id, p.next)
	}
	if len(p.buf)-headerSize+n > limit {
		delete(r.pending, h.id)
		return 0, nil, fmt.Errorf("%w: message %x passes %d bytes", ErrTooLarge, h.id, limit)
	}
	// The frame's header lands on the last headerSize bytes so far, put
	// back after: its body goes where it belongs in one read.
	at := len(p.buf)
	var under [headerSize]byte
	copy(under[:], p.buf[at-headerSize:at])
	p.buf = slices.Grow(p.buf, n)[:at+n]
	frame.Read(p.buf[at-headerSize:])
	copy(p.buf[at-headerSize:at], under[:])
	p.next, p.last = p.next+1, now
	if p.next < h.count {
		return 0, nil, nil
	}
	delete(r.pending, h.id)
	return p.kind, p.buf[headerSize:], nil
}

func (r *Reassembler) add(id uint64, p *partial) {
	if r.pending == nil {
		r.pending = map[uint64]*partial{}
	}
	limit := r.MaxPending
	if limit <= 0 {
		limit = 16
	}
	for len(r.pending) >= limit {
		var oldest uint64
		var t time.Time
		for k, q := range r.pending {
			if t.IsZero() || q.last.Before(t) {
				oldest, t = k, q.last
			}
		}
		delete(r.pending, oldest)
	}
	r.pending[id] = p
}

func (r *Reassembler) expire(now time.Time) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	for id, p := range r.pending {
		if now.Sub(p.last) > timeout {
			delete(r.pending, id)
		}
	}
}

// Pending is the number of messages in flight.
func (r *Reassembler) Pending() int { return len(r.pending) }
