package consensus

import (
	"errors"
	"slices"
	"testing"
)

// tcpNode starts a node on a real TCP port of 127.0.0.1.
func tcpNode(t *testing.T, id string, join bool) (*Node, *models) {
	t.Helper()
	cfg := fastConfig(t, id)
	cfg.Bind, cfg.Join = "127.0.0.1:0", join
	sm := &models{}
	n, err := Start(cfg, sm)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := n.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
	})
	return n, sm
}

func TestTCPClusterJoinAndFailover(t *testing.T) {
	checkGoroutines(t)
	n1, sm1 := tcpNode(t, "t1", false)
	eventually(t, "t1 to lead alone", n1.IsLeader)
	n2, sm2 := tcpNode(t, "t2", true)
	n3, sm3 := tcpNode(t, "t3", true)
	for _, n := range []*Node{n2, n3} {
		if err := n1.AddVoter(testContext(t), n.ID(), n.Address()); err != nil {
			t.Fatalf("AddVoter(%s): %v", n.ID(), err)
		}
	}
	servers, err := n1.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("Servers: %v, %v; want 3", servers, err)
	}
	if id, _, err := n2.WaitLeader(testContext(t)); err != nil || id != "t1" {
		t.Fatalf("t2 WaitLeader: %q, %v", id, err)
	}
	if err := n2.AddVoter(testContext(t), "t4", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on a follower: %v, want ErrNotLeader", err)
	}

	apply(t, n1, "x", "y")
	for _, n := range []*Node{n2, n3} {
		if err := n.WaitApplied(testContext(t), n1.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
	}
	for i, sm := range []*models{sm1, sm2, sm3} {
		wantNames(t, []string{"t1", "t2", "t3"}[i], sm, []string{"x", "y"})
	}

	if err := n1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	var leader, other *Node
	eventually(t, "t2 or t3 to lead", func() bool {
		leader, other = n2, n3
		if n3.IsLeader() {
			leader, other = n3, n2
		}
		return leader.IsLeader()
	})
	apply(t, leader, "z")
	if err := leader.RemoveServer(testContext(t), "t1"); err != nil {
		t.Fatalf("RemoveServer(t1): %v", err)
	}
	if err := other.CatchUp(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := other.WaitApplied(testContext(t), leader.AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	for _, sm := range []*models{sm2, sm3} {
		wantNames(t, "survivor", sm, []string{"x", "y", "z"})
	}
	servers, err = other.Servers()
	ids := []string{}
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"t2", "t3"}) {
		t.Fatalf("Servers after removing t1: %v, %v", ids, err)
	}
}
