package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func sampleActivation(payload int) *tabshardv1.Activation {
	p := make([]byte, payload)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return &tabshardv1.Activation{SessionId: "s1", Epoch: 4, Stage: 2, FirstPosition: 17, TokenCount: 1,
		Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{1, uint32(payload / 2)}, Payload: p,
		Sampling: &tabshardv1.Sampling{Temperature: 0.7}, ProducerWorkerId: "w3", StageMicros: []uint32{800, 900}}
}

// within reports whether b is a view of (part of) p.
func within(b, p []byte) bool {
	if len(b) == 0 || len(p) == 0 {
		return false
	}
	start, at := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return at >= start && at+uintptr(len(b)) <= start+uintptr(len(p))
}

// countingFrame is a Received that counts the bytes read out of it.
type countingFrame struct {
	Bytes
	read *int
}

func (c countingFrame) Read(dst []byte) {
	*c.read += min(len(dst), len(c.Bytes))
	c.Bytes.Read(dst)
}

// An activation goes out as frames whose bodies are the activation's own
// payload bytes (no copy on the sending side), comes back equal, and each
// payload byte is read out of the received frames exactly once (the one
// copy into Go memory) into the buffer the decoded payload keeps.
func TestActivationPartsRoundTrip(t *testing.T) {
	for _, c := range []struct{ payload, maxFrame int }{
		{0, MaxFrame}, {16 << 10, MaxFrame}, {MaxFrame, MaxFrame}, {3 << 20, MaxFrame},
		{3 << 20, DefaultMaxMessage + headerSize}, {1000, 64},
	} {
		a := sampleActivation(c.payload)
		before := proto.Clone(a)
		head, payload, err := EncodeActivation(a)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(a, before) {
			t.Fatalf("encoding changed the activation")
		}
		if len(payload) > 0 && unsafe.SliceData(payload) != unsafe.SliceData(a.Payload) {
			t.Fatalf("the payload part is a copy")
		}
		frames := Frames(KindActivationParts, 5, c.maxFrame, head, payload)
		r := Reassembler{MaxFrame: c.maxFrame}
		read, wire := 0, 0
		var got *tabshardv1.Activation
		for i := range frames {
			f := &frames[i]
			if f.Len() > c.maxFrame {
				t.Fatalf("frame %d: %d bytes, limit %d", i, f.Len(), c.maxFrame)
			}
			for _, b := range f.Body {
				if within(b, payload) {
					wire += len(b) // a view of the payload, not a copy
				}
			}
			kind, msg, err := r.AddFrom(countingFrame{Bytes(f.AppendTo(nil)), &read}, time.Now())
			if err != nil {
				t.Fatalf("%+v: frame %d: %v", c, i, err)
			}
			if msg != nil {
				if got, err = DecodeActivation(kind, msg); err != nil {
					t.Fatal(err)
				}
				if len(got.Payload) > 0 && unsafe.SliceData(got.Payload) != &msg[len(msg)-len(got.Payload)] {
					t.Fatalf("the decoded payload is a copy of the message")
				}
			}
		}
		if got == nil || !proto.Equal(got, a) {
			t.Fatalf("%+v: decoded %v", c, got)
		}
		if wire != c.payload {
			t.Errorf("%+v: %d payload bytes framed as views, want all %d", c, wire, c.payload)
		}
		// Each frame is read whole once (its header a second time: 20
		// bytes to parse it first).
		if body := len(head) + c.payload; read != 2*len(frames)*headerSize+body {
			t.Errorf("%+v: %d bytes read from the frames, want each once: %d", c, read, 2*len(frames)*headerSize+body)
		}
	}
}

// The whole-protobuf kind still decodes (a tab of the build before).
func TestDecodeWholeActivation(t *testing.T) {
	a := sampleActivation(100)
	msg, _ := proto.Marshal(a)
	got, err := DecodeActivation(KindActivation, msg)
	if err != nil || !proto.Equal(got, a) {
		t.Fatalf("%v, %v", got, err)
	}
}

func TestDecodeActivationRefuses(t *testing.T) {
	meta, _ := proto.Marshal(&tabshardv1.Activation{SessionId: "s", Payload: []byte{1, 2}})
	withPayload := append(binary.AppendUvarint(nil, uint64(len(meta))), meta...)
	head, payload, _ := EncodeActivation(sampleActivation(64))
	good := append(bytes.Clone(head), payload...)
	for name, c := range map[string]struct {
		kind byte
		msg  []byte
	}{
		"unknown kind":        {9, good},
		"empty":               {KindActivationParts, nil},
		"bad length":          {KindActivationParts, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		"meta past the end":   {KindActivationParts, good[:len(head)-1]},
		"meta not a protobuf": {KindActivationParts, []byte{3, 0xff, 0xff, 0xff}},
		"payload in the meta": {KindActivationParts, withPayload},
		"whole, not protobuf": {KindActivation, []byte{0xff, 0xff}},
	} {
		if a, err := DecodeActivation(c.kind, c.msg); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, %v; want ErrFrame", name, a, err)
		}
	}
}

// Frames cut parts at any boundary into the same bytes Split makes of
// their concatenation.
func TestFramesOverParts(t *testing.T) {
	msg := make([]byte, 3*MaxFrame+123)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, cut := range []int{0, 1, headerSize, MaxFrame - headerSize, MaxFrame, len(msg) - 1, len(msg)} {
		fs := Frames(KindActivation, 3, MaxFrame, msg[:cut], msg[cut:])
		want := Split(KindActivation, 3, msg)
		if len(fs) != len(want) {
			t.Fatalf("cut %d: %d frames, want %d", cut, len(fs), len(want))
		}
		for i := range fs {
			if got := fs[i].AppendTo(nil); !bytes.Equal(got, want[i]) || fs[i].Len() != len(got) {
				t.Fatalf("cut %d: frame %d differs", cut, i)
			}
		}
	}
}

// A transport with a large frame limit carries a message in one frame; a
// frame past the limit is refused.
func TestLargeFrameLimit(t *testing.T) {
	limit := DefaultMaxMessage + headerSize
	msg := make([]byte, 8<<20)
	fs := Frames(KindActivation, 1, limit, msg)
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	r := Reassembler{MaxFrame: limit}
	if _, got, err := r.Add(fs[0].AppendTo(nil), time.Now()); err != nil || len(got) != len(msg) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	small := Reassembler{}
	if _, _, err := small.Add(fs[0].AppendTo(nil), time.Now()); !errors.Is(err, ErrFrame) {
		t.Errorf("an 8 MiB frame at the default limit: %v", err)
	}
}

// FuzzDecodeActivation: decoding never panics, and what decodes encodes
// and decodes back to the same activation.
func FuzzDecodeActivation(f *testing.F) {
	head, payload, _ := EncodeActivation(sampleActivation(64))
	f.Add(byte(KindActivationParts), append(bytes.Clone(head), payload...))
	whole, _ := proto.Marshal(sampleActivation(8))
	f.Add(byte(KindActivation), whole)
	f.Add(byte(KindActivationParts), []byte{0})
	f.Fuzz(func(t *testing.T, kind byte, msg []byte) {
		a, err := DecodeActivation(kind, msg)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("error not ErrFrame: %v", err)
			}
			return
		}
		h, p, err := EncodeActivation(a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := DecodeActivation(KindActivationParts, append(h, p...))
		if err != nil || !proto.Equal(a, b) {
			t.Fatalf("re-decoded %v, %v; want %v", b, err, a)
		}
	})
}

// FuzzReassembler: frames of any bytes (each prefixed by its 2-byte
// length in the input) never panic the Reassembler, whose errors are
// ErrFrame or ErrTooLarge, and whose messages stay within its limit.
func FuzzReassembler(f *testing.F) {
	var seed []byte
	for _, fr := range Split(KindActivation, 1, make([]byte, 700)) {
		seed = binary.LittleEndian.AppendUint16(seed, uint16(len(fr)))
		seed = append(seed, fr...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Reassembler{MaxFrame: 512, MaxMessage: 2048, MaxPending: 3}
		now := time.Unix(0, 0)
		for len(in) >= 2 {
			n := min(int(binary.LittleEndian.Uint16(in)), len(in)-2)
			_, msg, err := r.Add(in[2:2+n], now)
			in = in[2+n:]
			if err != nil && !errors.Is(err, ErrFrame) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v", err)
			}
			if len(msg) > 2048 || r.Pending() > 3 {
				t.Fatalf("a %d-byte message, %d pending", len(msg), r.Pending())
			}
			now = now.Add(time.Second)
		}
	})
}

func TestCutTrailer(t *testing.T) {
	frame := Split(KindActivation, 1, []byte("abc"))[0]
	msg := append(append(bytes.Clone(frame), "w12"...), 3)
	from, got, ok := cutTrailer(msg)
	if !ok || from != "w12" || !bytes.Equal(got, frame) {
		t.Fatalf("%q %x %v", from, got, ok)
	}
	for _, bad := range [][]byte{nil, {0}, {5}, {'w', 2}, append(bytes.Clone(frame), 0)} {
		if _, _, ok := cutTrailer(bad); ok {
			t.Errorf("%x: cut", bad)
		}
	}
}

// An Owned single-frame message is its body, not a copy; Bytes are
// copied (the transport keeps them).
func TestOwnedFrames(t *testing.T) {
	f := Split(KindActivation, 1, []byte("payload"))[0]
	var r Reassembler
	_, owned, _ := r.AddFrom(Owned(f), time.Now())
	_, copied, _ := r.AddFrom(Bytes(f), time.Now())
	if &owned[0] != &f[headerSize] || &copied[0] == &f[headerSize] || string(owned) != "payload" || string(copied) != "payload" {
		t.Errorf("owned %q (aliases: %v), copied %q", owned, &owned[0] == &f[headerSize], copied)
	}
}
