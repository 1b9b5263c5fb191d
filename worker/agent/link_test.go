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
