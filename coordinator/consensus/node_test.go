package consensus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSingleNodeRecoversFromLogAndSnapshot(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := fastConfig(t, "solo")
	cfg.DataDir = dir

	first := &models{}
	n, err := Start(cfg, first)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "solo to lead", n.IsLeader)
	if v := <-n.LeaderChanges(); !v {
		t.Fatal("LeaderChanges: first event is false, want true")
	}
	apply(t, n, "a", "b", "c")
	if err := n.Snapshot(testContext(t)); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	apply(t, n, "d", "e")
	wantNames(t, "first run", first, []string{"a", "b", "c", "d", "e"})
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if events := drain(n.LeaderChanges()); !slices.Equal(events, []bool{false}) {
		t.Fatalf("LeaderChanges after Shutdown: %v, want [false] then closed", events)
	}

	second := &models{}
	n, err = Start(cfg, second)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if second.restoreCount() != 1 {
		t.Fatalf("Start restored %d snapshots, want 1", second.restoreCount())
	}
	eventually(t, "solo to lead again", n.IsLeader)
	if err := n.Barrier(testContext(t)); err != nil {
		t.Fatal(err)
	}
	wantNames(t, "restarted", second, []string{"a", "b", "c", "d", "e"})
	if n.Stats()["last_snapshot_index"] == "0" {
		t.Fatalf("stats show no snapshot: %v", n.Stats())
	}
	apply(t, n, "f")
}

func drain(ch <-chan bool) []bool {
	var out []bool
	for v := range ch {
		out = append(out, v)
	}
	return out
}

func TestSnapshotThresholdCompactsLog(t *testing.T) {
	checkGoroutines(t)
	cfg := fastConfig(t, "solo")
	cfg.DataDir = t.TempDir()
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 4, 10*time.Millisecond, 1

	n, err := Start(cfg, &models{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "solo to lead", n.IsLeader)
	apply(t, n, seq("m", 1, 10)...)
	eventually(t, "an automatic snapshot", func() bool { return n.Stats()["last_snapshot_index"] != "0" })
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	sm := &models{}
	n, err = Start(cfg, sm)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	eventually(t, "solo to lead again", n.IsLeader)
	if err := n.Barrier(testContext(t)); err != nil {
		t.Fatal(err)
	}
	wantNames(t, "restarted", sm, seq("m", 1, 10))
	if sm.restoreCount() == 0 {
		t.Fatal("restart did not restore a snapshot")
	}
}

func TestShutdownStopsEverything(t *testing.T) {
	checkGoroutines(t)
	n, err := Start(fastConfig(t, "solo"), &models{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "solo to lead", n.IsLeader)
	apply(t, n, "a")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := n.WaitApplied(ctx, n.AppliedIndex()+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied past the log: %v, want deadline exceeded", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- n.WaitApplied(context.Background(), n.AppliedIndex()+100) }()
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ErrShutdown) {
		t.Fatalf("WaitApplied across Shutdown: %v, want ErrShutdown", err)
	}
	if err := n.Apply(testContext(t), setModel("b")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Apply after Shutdown: %v, want ErrShutdown", err)
	}
	if err := n.Barrier(testContext(t)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Barrier after Shutdown: %v, want ErrShutdown", err)
	}
	if got := n.Stats()["state"]; got != "Shutdown" {
		t.Fatalf("Stats state after Shutdown: %q", got)
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Shutdown")
	}
}

func TestApplyNilCommand(t *testing.T) {
	checkGoroutines(t)
	n, err := Start(fastConfig(t, "solo"), &models{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if err := n.Apply(testContext(t), nil); !errors.Is(err, ErrMalformedCommand) {
		t.Fatalf("Apply(nil): %v, want ErrMalformedCommand", err)
	}
}

// After an election the log ends with the leader's no-op entry, and a
// barrier adds another: neither reaches the state machine, yet waiting for
// the commit index must not hang on them.
func TestWaitAppliedSkipsNoopsAndBarriers(t *testing.T) {
	checkGoroutines(t)
	n, err := Start(fastConfig(t, "solo"), &models{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	eventually(t, "solo to lead", n.IsLeader)
	if err := n.Barrier(testContext(t)); err != nil {
		t.Fatal(err)
	}
	commit := n.raft.CommitIndex()
	if n.AppliedIndex() >= commit {
		t.Fatalf("applied index %d, commit index %d: want a tail of no-op entries", n.AppliedIndex(), commit)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := n.WaitApplied(ctx, commit); err != nil {
		t.Fatalf("WaitApplied(commit index %d): %v", commit, err)
	}
	if err := n.CatchUp(ctx); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
}
