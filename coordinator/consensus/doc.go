// Package consensus replicates tabshard's cluster state between coordinators
// with hashicorp/raft.
//
// A Node wraps one Raft server around a StateMachine: commands proposed on the
// leader with Apply travel in the Raft log as marshalled tabshardv1.Command
// messages, and every node applies the committed ones, in order, to its own
// state machine. The log and the stable store live in raft-wal and the
// snapshots in files under Config.DataDir, so a restarted coordinator recovers
// its state; with an empty DataDir everything stays in memory (tests,
// simulations). Traffic goes over TCP, or over any raft.Transport given in
// Config.Transport (raft.InmemTransport for in-process clusters).
//
// The leader's loop: on true from LeaderChanges, call Barrier before deciding
// anything from the state (it may lag the log it inherited), then propose with
// Apply; on false, stop proposing. A follower streams what commits by reading
// its state each time the channel from Applied is closed; WaitApplied waits for
// a given log index (e.g. the leader's AppliedIndex after an Apply) and
// CatchUp for everything the node knows is committed.
package consensus
