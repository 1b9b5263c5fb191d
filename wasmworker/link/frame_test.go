package link

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestSplitReassemble(t *testing.T) {
	now := time.Unix(0, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, MaxFrame - headerSize, MaxFrame - headerSize + 1, 16 << 10, 8 << 20} {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		frames := Split(KindActivation, uint64(n), msg)
		var r Reassembler
		for i, f := range frames {
			if len(f) > MaxFrame {
				t.Fatalf("%d bytes: frame %d has %d bytes", n, i, len(f))
			}
			kind, got, err := r.Add(f, now)
			if err != nil {
				t.Fatalf("%d bytes: frame %d: %v", n, i, err)
			}
			if (got != nil) != (i == len(frames)-1) && n > 0 {
				t.Fatalf("%d bytes: message complete at frame %d of %d", n, i, len(frames))
			}
			if i == len(frames)-1 && (kind != KindActivation || !bytes.Equal(got, msg)) {
				t.Fatalf("%d bytes: reassembled %d bytes differ", n, len(got))
			}
		}
		if r.Pending() != 0 {
			t.Errorf("%d bytes: %d messages left pending", n, r.Pending())
		}
	}
}

func TestInterleavedMessages(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 600<<10), bytes.Repeat([]byte{2}, 300<<10)
	fa, fb := Split(KindActivation, 1, a), Split(KindActivation, 2, b)
	var r Reassembler
	var done [][]byte
	for i := 0; i < max(len(fa), len(fb)); i++ {
		for _, fs := range [][][]byte{fa, fb} {
			if i < len(fs) {
				if _, m, err := r.Add(fs[i], time.Now()); err != nil {
					t.Fatal(err)
				} else if m != nil {
					done = append(done, m)
				}
			}
		}
	}
	if len(done) != 2 || !bytes.Equal(done[0], b) || !bytes.Equal(done[1], a) {
		t.Errorf("got %d messages", len(done))
	}
}

func TestBadFrames(t *testing.T) {
	now := time.Unix(0, 0)
	good := Split(KindActivation, 7, bytes.Repeat([]byte{9}, 700<<10))
	oversized := append(bytes.Clone(good[0]), make([]byte, MaxFrame)...)
	corrupt := bytes.Clone(good[1])
	corrupt[0] = 'X'
	huge := Split(KindActivation, 8, []byte{1})[0]
	huge[16] = 0xff // 255+ frames announced...
	huge[17] = 0xff // ...65535: past MaxMessage
	zero := Split(KindActivation, 9, []byte{1})[0]
	zero[16] = 0
	for name, c := range map[string]struct {
		frames [][]byte
		err    error
	}{
		"oversized frame":    {[][]byte{oversized}, ErrFrame},
		"short frame":        {[][]byte{{'T', 'S'}}, ErrFrame},
		"bad magic":          {[][]byte{corrupt}, ErrFrame},
		"too many frames":    {[][]byte{huge}, ErrTooLarge},
		"no frames":          {[][]byte{zero}, ErrFrame},
		"middle first":       {[][]byte{good[1]}, ErrFrame},
		"frame out of order": {[][]byte{good[0], good[2]}, ErrFrame},
	} {
		var r Reassembler
		var err error
		for _, f := range c.frames {
			if _, _, err = r.Add(f, now); err != nil {
				break
			}
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	// A bad frame of one message leaves another in flight intact.
	other := Split(KindActivation, 10, bytes.Repeat([]byte{3}, 300<<10))
	var r Reassembler
	r.Add(other[0], now)
	r.Add(corrupt, now)
	r.Add(good[2], now)
	if _, m, err := r.Add(other[1], now); err != nil || len(m) != 300<<10 {
		t.Errorf("the other message: %d bytes, %v", len(m), err)
	}
	// A size limit below the message refuses it.
	small := Reassembler{MaxMessage: 300 << 10}
	var err error
	for _, f := range good {
		if _, _, err = small.Add(f, now); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("past MaxMessage: %v", err)
	}
	// A stalled message times out; so many start that the oldest goes.
	r = Reassembler{Timeout: time.Second, MaxPending: 2}
	r.Add(good[0], now)
	r.Add(Split(KindActivation, 11, make([]byte, 300<<10))[0], now.Add(2*time.Second))
	if r.Pending() != 1 {
		t.Errorf("%d pending after a timeout", r.Pending())
	}
	for id := uint64(20); id < 25; id++ {
		r.Add(Split(KindActivation, id, make([]byte, 300<<10))[0], now.Add(3*time.Second))
	}
	if r.Pending() != 2 {
		t.Errorf("%d pending, want MaxPending 2", r.Pending())
	}
}
