package link

import (
	"encoding/binary"
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// slow is a Memory transport whose every frame takes d on a shared clock.
type slow struct {
	*Memory
	clock *time.Time
	d     *time.Duration
}

func (s slow) Send(peer string, f *Frame) error {
	*s.clock = s.clock.Add(*s.d)
	return s.Memory.Send(peer, f)
}

// A ping's round trip over a link is the link's latency (half of it),
// averaged over probes; pongs nobody asked for, malformed probes and old
// measurements count for nothing.
func TestProbeMeasuresLinks(t *testing.T) {
	hub := &Hub{}
	clock, d := time.Unix(1000, 0), time.Millisecond
	now := func() time.Time { return clock }
	ta, tb := slow{hub.NewMemory(), &clock, &d}, slow{hub.NewMemory(), &clock, &d}
	a, b := NewMux(nil, ta), NewMux(nil, tb)
	a.now, b.now = now, now
	a.SetSelf("w1")
	b.SetSelf("w2")
	a.Probe()
	want := []*tabshardv1.LinkLatency{{PeerWorkerId: "w2", Link: tabshardv1.Link_LINK_BROADCAST_CHANNEL, LatencyMs: 1}}
	if got := a.LinkLatencies(); len(got) != 1 || got[0].String() != want[0].String() {
		t.Fatalf("after one probe: %v, want %v", got, want)
	}
	d = 3 * time.Millisecond
	a.Probe()
	if got := a.LinkLatencies(); len(got) != 1 || got[0].GetLatencyMs() != 0.75*1+0.25*3 {
		t.Fatalf("after a slower probe: %v, want the running mean 1.5 ms", got)
	}
	if got := b.LinkLatencies(); len(got) != 0 {
		t.Errorf("w2 measured without probing: %v", got)
	}
	b.Probe()
	if got := b.LinkLatencies(); len(got) != 1 || got[0].GetPeerWorkerId() != "w1" || got[0].GetLatencyMs() != 3 {
		t.Errorf("w2's probe: %v", got)
	}

	// A pong w1 never asked for changes nothing.
	before := a.LinkLatencies()[0].GetLatencyMs()
	var body [8]byte
	binary.LittleEndian.PutUint64(body[:], 12345)
	f := Frames(KindPong, 1, MaxFrame, body[:])
	tb.Memory.Send("w1", &f[0])
	if got := a.LinkLatencies()[0].GetLatencyMs(); got != before {
		t.Errorf("a forged pong moved the latency to %g", got)
	}
	// A probe of the wrong size is refused.
	bad := Frames(KindPing, 2, MaxFrame, []byte{1, 2, 3})
	tb.Memory.Send("w1", &bad[0])
	if s := a.Stats(); len(s) != 1 || s[0].Peer != "w2" || s[0].Refused != 1 {
		t.Errorf("malformed ping: %+v", s)
	}
	// Stale measurements go.
	clock = clock.Add(2 * probeStale)
	if got := a.LinkLatencies(); len(got) != 0 {
		t.Errorf("stale: %v", got)
	}
}
