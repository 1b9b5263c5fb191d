package agent

import (
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestTwins(t *testing.T) {
	now := time.Unix(100, 0)
	a := &tabshardv1.Activation{SessionId: "s1", Epoch: 2, Stage: 1, FirstPosition: 5, TokenCount: 1, ProducerWorkerId: "w1"}
	other := &tabshardv1.Activation{SessionId: "s1", Epoch: 2, Stage: 1, FirstPosition: 6, TokenCount: 1, ProducerWorkerId: "w1"}
	var tw twins
	if tw.isTwin(a, now) {
		t.Fatal("a NATS copy with no link delivery is a twin")
	}
	tw.linked(a, now)
	if tw.isTwin(other, now) {
		t.Error("another position counted as a twin")
	}
	if !tw.isTwin(a, now.Add(time.Millisecond)) {
		t.Error("the NATS copy of a link delivery is not its twin")
	}
	if tw.isTwin(a, now.Add(2*time.Millisecond)) {
		t.Error("one link delivery dropped two NATS copies (a re-issued step must run)")
	}
	tw.linked(a, now)
	if tw.isTwin(a, now.Add(twinWindow+time.Second)) {
		t.Error("a twin arrived after the window still dropped")
	}
	for i := range 2000 {
		tw.linked(&tabshardv1.Activation{SessionId: "s", FirstPosition: uint32(i)}, now)
	}
	tw.linked(a, now.Add(time.Hour))
	if len(tw.waiting) > 1100 {
		t.Errorf("%d entries kept past the window", len(tw.waiting))
	}
}

// The plan names each hop's link; a worker sends over it only when it is
// a direct link, and never to itself.
func TestDirectHop(t *testing.T) {
	stage := func(id string, l tabshardv1.Link) *tabshardv1.Stage {
		return &tabshardv1.Stage{DeviceId: id, Link: l}
	}
	plan := &tabshardv1.Plan{Stages: []*tabshardv1.Stage{
		stage("w1", tabshardv1.Link_LINK_NATS),
		stage("w2", tabshardv1.Link_LINK_BROADCAST_CHANNEL),
		stage("w3", tabshardv1.Link_LINK_WEBRTC),
		stage("w4", tabshardv1.Link_LINK_NATS),
		stage("w5", tabshardv1.Link_LINK_UNSPECIFIED), // a plan from before links
		stage("w1", tabshardv1.Link_LINK_WEBRTC),
	}}
	for _, tc := range []struct {
		stage uint32
		to    string
		via   tabshardv1.Link
		ok    bool
	}{
		{0, "", 0, false},
		{1, "w2", tabshardv1.Link_LINK_BROADCAST_CHANNEL, true},
		{2, "w3", tabshardv1.Link_LINK_WEBRTC, true},
		{3, "", 0, false},
		{4, "", 0, false},
		{5, "", 0, false}, // w1 itself
		{6, "", 0, false}, // no such stage
	} {
		to, via, ok := directHop(plan, tc.stage, "w1")
		if to != tc.to || via != tc.via || ok != tc.ok {
			t.Errorf("stage %d: %q %v %v, want %q %v %v", tc.stage, to, via, ok, tc.to, tc.via, tc.ok)
		}
	}
	if _, _, ok := directHop(nil, 1, "w1"); ok {
		t.Error("a direct hop without a plan")
	}
}
