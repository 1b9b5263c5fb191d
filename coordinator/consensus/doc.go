// Package consensus replicates tabshard's cluster state between coordinators
// with hashicorp/raft.
//
// A Node wraps one Raft server around a StateMachine: commands proposed on the
// leader with Apply are marshalled protobuf tabshardv1.Command messages in the
// Raft log; every node applies the committed ones, in order, to its own state
// machine. The log and the stable store live in raft-wal and the snapshots in
// files under Config.DataDir, so a restarted coordinator recovers its state;
// with an empty DataDir everything stays in memory (tests, simulations).
// Traffic goes over TCP, or over any raft.Transport given in Config.Transport
// (raft.InmemTransport for in-process clusters).
//
// Followers learn that commands were applied through Applied, AppliedIndex
// and WaitApplied; a new leader calls Barrier before it decides anything from
// its state.
package consensus
