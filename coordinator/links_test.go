package coordinator

import (
	"fmt"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestLinkReports(t *testing.T) {
	var r linkReports
	bc, rtc := tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC
	r.record(&tabshardv1.Heartbeat{WorkerId: "w1", LinkLatencies: []*tabshardv1.LinkLatency{
		{PeerWorkerId: "w2", Link: bc, LatencyMs: 0.4}, {PeerWorkerId: "w3", Link: rtc, LatencyMs: 1.5}}})
	if got := r.latency("w1", "w2", bc); got != 0.4 {
		t.Errorf("w1→w2 %g", got)
	}
	if got := r.latency("w1", "w2", rtc); got != 0 {
		t.Errorf("w1→w2 over another link %g, want none", got)
	}
	if got := r.latency("w2", "w1", bc); got != 0 {
		t.Errorf("w2 reported nothing, got %g", got)
	}
	// The next heartbeat replaces the last; one without links forgets.
	r.record(&tabshardv1.Heartbeat{WorkerId: "w1", LinkLatencies: []*tabshardv1.LinkLatency{{PeerWorkerId: "w3", Link: rtc, LatencyMs: 2}}})
	if r.latency("w1", "w2", bc) != 0 || r.latency("w1", "w3", rtc) != 2 {
		t.Errorf("not replaced: %v", r.by)
	}
	r.record(&tabshardv1.Heartbeat{WorkerId: "w1"})
	if len(r.by) != 0 {
		t.Errorf("not forgotten: %v", r.by)
	}
	// A worker reporting thousands of links keeps maxReportedLinks.
	hb := &tabshardv1.Heartbeat{WorkerId: "w9"}
	for i := range 5000 {
		hb.LinkLatencies = append(hb.LinkLatencies, &tabshardv1.LinkLatency{PeerWorkerId: fmt.Sprint("p", i), Link: bc, LatencyMs: 1})
	}
	r.record(hb)
	if n := len(r.by["w9"]); n != maxReportedLinks {
		t.Errorf("%d links kept, want %d", n, maxReportedLinks)
	}
}
