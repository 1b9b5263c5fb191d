package link

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// fake is a Transport that counts the frames it sends and the
// connections it is asked to start.
type fake struct {
	kind string
	link tabshardv1.Link

	mu       sync.Mutex
	reaches  bool
	frames   int
	connects []string
}

func (f *fake) Kind() string                              { return f.kind }
func (f *fake) Link() tabshardv1.Link                     { return f.link }
func (f *fake) SetSelf(string)                            {}
func (f *fake) Receive(func(from string, frame Received)) {}
func (f *fake) FrameLimit() int                           { return MaxFrame }
func (f *fake) State(string) string                       { return "" }

func (f *fake) Reaches(string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reaches
}

func (f *fake) setReaches(r bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reaches = r
}

func (f *fake) Connect(peer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, peer)
}

func (f *fake) Send(string, *Frame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames++
	return nil
}

// counts are the frames sent and the peers connected to so far.
func (f *fake) counts() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames, slices.Clone(f.connects)
}

// The plan's link picks the transport: the named one carries the message,
// the others stay silent even when they reach the peer; a named link that
// does not reach yet starts connecting and carries nothing.
func TestMuxSendsOverThePlansLink(t *testing.T) {
	bc := &fake{kind: "broadcast", link: tabshardv1.Link_LINK_BROADCAST_CHANNEL, reaches: true}
	rtc := &fake{kind: "webrtc", link: tabshardv1.Link_LINK_WEBRTC}
	m := NewMux(nil, bc, rtc)
	a := &tabshardv1.Activation{SessionId: "s", Stage: 1, TokenCount: 1, Payload: []byte{1, 2, 3}}
	if got, want := m.Links(), []tabshardv1.Link{tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC}; !slices.Equal(got, want) {
		t.Errorf("Links %v, want %v", got, want)
	}

	m.SendVia("w2", tabshardv1.Link_LINK_BROADCAST_CHANNEL, a)
	if n, c := bc.counts(); n != 1 || len(c) != 0 {
		t.Errorf("BroadcastChannel named: it sent %d frames, connected %v; want 1 frame", n, c)
	}
	if n, c := rtc.counts(); n != 0 || len(c) != 0 {
		t.Errorf("BroadcastChannel named: WebRTC sent %d frames, connected %v; want nothing", n, c)
	}

	// WebRTC named, not open yet: BroadcastChannel reaches the peer but
	// must not carry it; WebRTC starts connecting.
	m.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, a)
	if n, _ := bc.counts(); n != 1 {
		t.Errorf("WebRTC named: BroadcastChannel sent %d frames in all, want 1 (the first message's)", n)
	}
	if n, c := rtc.counts(); n != 0 || !slices.Equal(c, []string{"w2"}) {
		t.Errorf("WebRTC named, not open: it sent %d frames, connected %v; want none and a connection to w2", n, c)
	}
	rtc.setReaches(true)
	m.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, a)
	if n, _ := rtc.counts(); n != 1 {
		t.Errorf("WebRTC named and open: it sent %d frames, want 1", n)
	}
	if n, _ := bc.counts(); n != 1 {
		t.Errorf("WebRTC named and open: BroadcastChannel sent %d frames in all, want 1", n)
	}

	// NATS (or no link, or one the Mux lacks) is nobody's job here.
	for _, l := range []tabshardv1.Link{tabshardv1.Link_LINK_NATS, tabshardv1.Link_LINK_UNSPECIFIED} {
		m.SendVia("w2", l, a)
	}
	bn, bcon := bc.counts()
	rn, rcon := rtc.counts()
	if bn != 1 || rn != 1 || len(bcon) != 0 || len(rcon) != 1 {
		t.Errorf("NATS named: frames %d, %d and connections %v, %v; want no change", bn, rn, bcon, rcon)
	}
	stats := m.Stats()
	if len(stats) != 2 || stats[0].Kind != "broadcast" || stats[0].Sent != 1 || stats[1].Kind != "webrtc" || stats[1].Sent != 1 {
		t.Errorf("stats %+v", stats)
	}
}

// Two Muxes over in-process transports: a message sent over the named
// link arrives whole, and over the other hub nothing does.
func TestMuxOverMemory(t *testing.T) {
	bcHub, rtcHub := &Hub{}, &Hub{}
	a := NewMux(nil, bcHub.NewMemory(), rtcHub.NewMemoryAs(tabshardv1.Link_LINK_WEBRTC))
	b := NewMux(nil, bcHub.NewMemory(), rtcHub.NewMemoryAs(tabshardv1.Link_LINK_WEBRTC))
	a.SetSelf("w1")
	b.SetSelf("w2")
	var mu sync.Mutex
	var got []*tabshardv1.Activation
	b.Receive(func(x *tabshardv1.Activation) { mu.Lock(); got = append(got, x); mu.Unlock() })
	big := &tabshardv1.Activation{SessionId: "s", Stage: 1, TokenCount: 64, Payload: bytes.Repeat([]byte{7, 9}, MaxFrame)}
	a.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, big)
	a.SendVia("w2", tabshardv1.Link_LINK_NATS, big)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !bytes.Equal(got[0].GetPayload(), big.GetPayload()) {
		t.Fatalf("received %d messages, want the one sent over a direct link", len(got))
	}
	if s := a.Stats(); len(s) != 1 || s[0].Sent != 1 || s[0].Peer != "w2" {
		t.Errorf("sender stats %+v", s)
	}
	if s := b.Stats(); len(s) != 1 || s[0].Recv != 1 {
		t.Errorf("receiver stats %+v", s)
	}
}
