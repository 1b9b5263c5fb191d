package consensus

import (
	"errors"
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestClusterFailoverAndDurableRestart(t *testing.T) {
	checkGoroutines(t)
	// Small snapshot settings so that snapshots and log compaction happen
	// during the test, and a lagging node may be sent a snapshot.
	c := newCluster(t, 3, true, func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 4, 20*time.Millisecond, 2
	})
	c.startAll()
	leader := c.leader()

	follower := c.follower(leader)
	err := follower.node.Apply(testContext(t), setModel("x"))
	var notLeader *NotLeaderError
	if !errors.As(err, &notLeader) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on a follower: %v, want a NotLeaderError", err)
	}
	if notLeader.LeaderID != leader.id || notLeader.LeaderAddress != leader.id {
		t.Fatalf("NotLeaderError names %s at %s, want %s", notLeader.LeaderID, notLeader.LeaderAddress, leader.id)
	}

	apply(t, leader.node, seq("m", 1, 5)...)
	c.waitApplied(leader)
	c.wantNames(seq("m", 1, 5))
	if got := leader.node.Stats()["state"]; got != "Leader" {
		t.Fatalf("leader's Stats state %q", got)
	}

	old := leader
	c.stop(old)
	leader = c.leader()
	if leader == old {
		t.Fatal("the stopped leader is still the leader")
	}
	if !lastEvent(leader.node.LeaderChanges()) {
		t.Fatal("the new leader's LeaderChanges does not end with true")
	}
	apply(t, leader.node, seq("m", 6, 20)...)
	c.waitApplied(leader)
	c.wantNames(seq("m", 1, 20))
	wantNames(t, "stopped leader", old.sm, seq("m", 1, 5))
	// Compact the survivors' logs past what the stopped leader has: it can
	// only catch up from a snapshot.
	for _, m := range c.running() {
		if err := m.node.Snapshot(testContext(t)); err != nil {
			t.Fatalf("%s: Snapshot: %v", m.id, err)
		}
	}

	c.stopAll()
	c.startAll()
	leader = c.leader()
	if leader == old {
		t.Fatal("the node with the stale log won the election")
	}
	if err := leader.node.Barrier(testContext(t)); err != nil {
		t.Fatal(err)
	}
	c.waitApplied(leader)
	c.wantNames(seq("m", 1, 20))
	if got := old.sm.largestRestore(); got <= 5 {
		t.Fatalf("the stale node restored at most %d names: it was not sent the leader's snapshot", got)
	}
	apply(t, leader.node, "m21")
	c.waitApplied(leader)
	c.wantNames(seq("m", 1, 21))
}

func TestRejectedCommandChangesNothing(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t, 3, false, nil)
	c.startAll()
	leader := c.leader()
	apply(t, leader.node, "dup")

	err := leader.node.Apply(testContext(t), setModel("dup"))
	if !errors.Is(err, ErrRejected) || !errors.Is(err, errDuplicate) {
		t.Fatalf("duplicate Apply: %v, want ErrRejected wrapping errDuplicate", err)
	}
	err = leader.node.Apply(testContext(t), &tabshardv1.Command{})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("empty command: %v, want ErrRejected", err)
	}

	// A malformed entry cannot come through Apply; put one in the log
	// directly: every node rejects it, none panics.
	f := leader.node.raft.Apply([]byte{0xff, 0xff, 0xff}, time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.Response().(error); !errors.Is(resp, ErrMalformedCommand) || !errors.Is(resp, ErrRejected) {
		t.Fatalf("malformed entry: response %v, want ErrMalformedCommand", resp)
	}

	apply(t, leader.node, "after")
	c.waitApplied(leader)
	c.wantNames([]string{"dup", "after"})
}

// lastEvent is the latest value waiting in ch (false when none is).
func lastEvent(ch <-chan bool) bool {
	last := false
	for {
		select {
		case v := <-ch:
			last = v
		default:
			return last
		}
	}
}
