package consensus

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// waitAppliedPoll is how often WaitApplied looks again while the entries
// it waits for change nothing (no-op and barrier entries wake nobody).
const waitAppliedPoll = 20 * time.Millisecond

// AppliedIndex is the index of the last log entry the state machine
// reflects: the last command or membership change applied, or the point of
// the snapshot restored. No-op and barrier entries do not move it.
func (n *Node) AppliedIndex() uint64 { return n.fsm.index.Load() }

// Applied returns a channel that is closed the next time the state machine
// changes (a command applied or rejected, a membership change, a snapshot
// restored). Take the channel before reading the state, then wait on it:
//
//	for {
//		changed := node.Applied()
//		... read the state, stream what is new ...
//		select {
//		case <-changed:
//		case <-ctx.Done():
//			return
//		case <-node.Done():
//			return
//		}
//	}
func (n *Node) Applied() <-chan struct{} { return n.fsm.applied.wait() }

// WaitApplied waits until the state machine reflects every log entry up to
// index: index is, for example, the leader's AppliedIndex after an Apply.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	var poll <-chan time.Time
	for {
		changed := n.fsm.applied.wait()
		if n.appliedThrough(index) {
			return nil
		}
		if poll == nil {
			t := time.NewTicker(waitAppliedPoll)
			defer t.Stop()
			poll = t.C
		}
		select {
		case <-changed:
		case <-poll:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrShutdown
		}
	}
}

// CatchUp waits until the state machine reflects everything this node
// knows to be committed. On the leader it is Barrier. On a follower it waits
// for a leader, then for the commit index the leader has told it: a follower
// may still be behind the leader by the entries of the last few heartbeats,
// so for an exact point pass the leader's index to WaitApplied.
func (n *Node) CatchUp(ctx context.Context) error {
	if n.IsLeader() {
		return n.Barrier(ctx)
	}
	if _, _, err := n.WaitLeader(ctx); err != nil {
		return err
	}
	return n.WaitApplied(ctx, n.raft.CommitIndex())
}

// appliedThrough reports whether every entry up to index that changes the
// state machine has been applied.
func (n *Node) appliedThrough(index uint64) bool {
	applied := n.fsm.index.Load()
	if applied >= index {
		return true
	}
	// Entries past raft's applied index are not committed or not yet handed
	// to the state machine.
	if n.raft.AppliedIndex() < index {
		return false
	}
	return !n.changesPending(applied, index)
}

// changesPending reports whether a command or membership entry lies in
// (after, through]. Entries compacted away are covered by a snapshot the
// state machine already reflects.
func (n *Node) changesPending(after, through uint64) bool {
	for i := through; i > after; i-- {
		var l raft.Log
		err := n.stores.logs.GetLog(i, &l)
		if errors.Is(err, raft.ErrLogNotFound) {
			return false
		}
		if err != nil || l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true
		}
	}
	return false
}
