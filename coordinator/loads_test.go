package coordinator

import (
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// The loads list the last heartbeat of each worker heard within maxAge, by
// id, and forget the others.
func TestWorkerLoads(t *testing.T) {
	var l workerLoads
	t0 := time.Unix(1000, 0)
	l.heard(&tabshardv1.Heartbeat{WorkerId: "w2", LoadedStage: -1, LoadProgress: 0.1}, t0)
	l.heard(&tabshardv1.Heartbeat{WorkerId: "w1", LoadedStage: -1, LoadProgress: 0.5}, t0)
	l.heard(&tabshardv1.Heartbeat{WorkerId: "w2", LoadedStage: -1, LoadProgress: 0.4}, t0.Add(2*time.Second))
	got := l.list(t0.Add(2500*time.Millisecond), 3*time.Second)
	if len(got) != 2 || got[0].WorkerID != "w1" || got[0].Progress != 0.5 || got[0].AgeMS != 2500 ||
		got[1].WorkerID != "w2" || got[1].Progress != 0.4 || got[1].AgeMS != 500 {
		t.Fatalf("%+v", got)
	}
	got = l.list(t0.Add(4*time.Second), 3*time.Second)
	if len(got) != 1 || got[0].WorkerID != "w2" {
		t.Fatalf("after w1's lease: %+v", got)
	}
	if len(l.seen) != 1 {
		t.Errorf("w1 is still kept: %v", l.seen)
	}
}
