//go:build !js

package wasmworker

import (
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Tabs measure their direct links and report them in heartbeats: the
// leader has each tab's latency to the others over BroadcastChannel (an
// in-memory transport here) within a few probes, and none over a link
// the tabs do not have.
func TestLinkLatenciesReachTheLeader(t *testing.T) {
	c := startCoordinator(t, 3)
	workers := runLinkedTabs(t, c, []string{"b1", "b1", "b1"}, tabshardv1.Link_LINK_BROADCAST_CHANNEL)
	ids := func() []string {
		var out []string
		for _, w := range workers {
			if id := w.workerID(); id != "" {
				out = append(out, id)
			}
		}
		return out
	}
	bc := tabshardv1.Link_LINK_BROADCAST_CHANNEL
	measured := func(ids []string) bool {
		for _, a := range ids {
			for _, b := range ids {
				if a != b && c.LinkLatency(a, b, bc) <= 0 {
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for got := ids(); len(got) < 3 || !measured(got); got = ids() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the leader has no latency for some link among %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := ids()
	if l := c.LinkLatency(got[0], got[1], bc); l > 1000 {
		t.Errorf("an in-process link measured %g ms", l)
	}
	if l := c.LinkLatency(got[0], got[1], tabshardv1.Link_LINK_WEBRTC); l != 0 {
		t.Errorf("a WebRTC latency (%g ms) between tabs without WebRTC", l)
	}
}
