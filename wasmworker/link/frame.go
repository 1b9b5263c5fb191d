package link

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// Split cuts msg into frames of at most MaxFrame bytes with id.
func Split(kind byte, id uint64, msg []byte) [][]byte {
	const room = MaxFrame - headerSize
	count := max(1, (len(msg)+room-1)/room)
	frames := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		part := msg[i*room : min((i+1)*room, len(msg))]
		f := make([]byte, headerSize+len(part))
		f[0], f[1], f[2], f[3] = magic0, magic1, version, kind
		binary.LittleEndian.PutUint64(f[4:], id)
		binary.LittleEndian.PutUint32(f[12:], uint32(i))
		binary.LittleEndian.PutUint32(f[16:], uint32(count))
		copy(f[headerSize:], part)
		frames = append(frames, f)
	}
	return frames
}

// header is a parsed frame header.
type header struct {
	kind         byte
	id           uint64
	index, count uint32
}

func parse(f []byte) (header, []byte, error) {
	switch {
	case len(f) > MaxFrame:
		return header{}, nil, fmt.Errorf("%w: a %d-byte frame (at most %d)", ErrFrame, len(f), MaxFrame)
	case len(f) < headerSize:
		return header{}, nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrFrame, len(f))
	case f[0] != magic0 || f[1] != magic1 || f[2] != version:
		return header{}, nil, fmt.Errorf("%w: bad magic or version % x", ErrFrame, f[:3])
	}
	h := header{kind: f[3], id: binary.LittleEndian.Uint64(f[4:]), index: binary.LittleEndian.Uint32(f[12:]), count: binary.LittleEndian.Uint32(f[16:])}
	if h.count == 0 || h.index >= h.count {
		return h, nil, fmt.Errorf("%w: frame %d of %d", ErrFrame, h.index, h.count)
	}
	return h, f[headerSize:], nil
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
	h, body, err := parse(frame)
	if err != nil {
		return 0, nil, err
	}
	limit := r.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	if int64(h.count)*(MaxFrame-headerSize) > int64(limit)+MaxFrame {
		return 0, nil, fmt.Errorf("%w: %d frames announced (at most %d bytes)", ErrTooLarge, h.count, limit)
	}
	if h.count == 1 {
		return h.kind, body, nil
	}
	r.expire(now)
	p := r.pending[h.id]
	switch {
	case p == nil && h.index != 0:
		return 0, nil, fmt.Errorf("%w: frame %d of message %x without its start", ErrFrame, h.index, h.id)
	case p == nil:
		p = &partial{kind: h.kind}
		r.add(h.id, p)
	case h.index != p.next || h.kind != p.kind:
		delete(r.pending, h.id)
		return 0, nil, fmt.Errorf("%w: frame %d of message %x, expected %d", ErrFrame, h.index, h.id, p.next)
	}
	if len(p.buf)+len(body) > limit {
		delete(r.pending, h.id)
		return 0, nil, fmt.Errorf("%w: message %x passes %d bytes", ErrTooLarge, h.id, limit)
	}
	p.buf, p.next, p.last = append(p.buf, body...), p.next+1, now
	if p.next < h.count {
		return 0, nil, nil
	}
	delete(r.pending, h.id)
	return p.kind, p.buf, nil
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
