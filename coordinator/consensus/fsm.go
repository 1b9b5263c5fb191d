package consensus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// StateMachine is the deterministic state the coordinators replicate.
type StateMachine interface {
	// Apply applies one committed command. An error is a rejected command
	// (deterministic: every node rejects it); it is returned to the proposer,
	// the state is unchanged.
	Apply(cmd *tabshardv1.Command) error
	// Snapshot returns the whole state as bytes (a marshalled
	// tabshardv1.ClusterState).
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot.
	Restore(b []byte) error
}

// fsm adapts a StateMachine to raft.FSM and tracks the last log index the
// state reflects. Raft calls Apply, StoreConfiguration, Snapshot and Restore
// from one goroutine; the mutex keeps the state machine's calls serial anyway.
type fsm struct {
	sm      StateMachine
	log     *slog.Logger
	mu      sync.Mutex
	index   atomic.Uint64
	applied *broadcast
}

var _ raft.ConfigurationStore = (*fsm)(nil)

func newFSM(sm StateMachine, log *slog.Logger) *fsm {
	return &fsm{sm: sm, log: log, applied: newBroadcast()}
}

// Apply applies a command entry. Its response, returned to the proposer's
// ApplyFuture, is nil or the rejection.
func (f *fsm) Apply(l *raft.Log) any {
	err := f.applyEntry(l.Index, l.Data)
	f.applied.fire()
	if err != nil {
		f.log.Debug("command rejected", "index", l.Index, "error", err)
		return rejection{err}
	}
	return nil
}

func (f *fsm) applyEntry(index uint64, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.index.Store(index)
	cmd := &tabshardv1.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedCommand, err)
	}
	return f.sm.Apply(cmd)
}

// StoreConfiguration records that a membership entry was applied: the state
// machine is not concerned, but the applied index moves.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.mu.Lock()
	f.index.Store(index)
	f.mu.Unlock()
	f.applied.fire()
}

// Snapshot takes the state machine's bytes now, at this point of the log;
// Persist writes them later while commands keep being applied.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state, err := f.sm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("state machine snapshot: %w", err)
	}
	return &fsmSnapshot{data: encodeSnapshot(f.index.Load(), state)}, nil
}

// Restore replaces the state with a snapshot this package wrote.
func (f *fsm) Restore(rc io.ReadCloser) error {
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	index, state, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	if err := f.restore(index, state); err != nil {
		return err
	}
	f.applied.fire()
	return nil
}

func (f *fsm) restore(index uint64, state []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.sm.Restore(state); err != nil {
		return fmt.Errorf("state machine restore: %w", err)
	}
	f.index.Store(index)
	return nil
}

// fsmSnapshot is a snapshot's bytes, taken by fsm.Snapshot.
type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// A snapshot is snapshotMagic, the applied index (8 bytes, big endian) and
// the state machine's bytes. The index lets a node that restores a snapshot
// know which log entries its state reflects.
var snapshotMagic = []byte("tsraft01")

const snapshotHeaderLen = 8 + 8

func encodeSnapshot(index uint64, state []byte) []byte {
	b := make([]byte, 0, snapshotHeaderLen+len(state))
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint64(b, index)
	return append(b, state...)
}

func decodeSnapshot(b []byte) (index uint64, state []byte, err error) {
	if len(b) < snapshotHeaderLen || !bytes.Equal(b[:len(snapshotMagic)], snapshotMagic) {
		return 0, nil, fmt.Errorf("%w: no tabshard snapshot header", ErrBadSnapshot)
	}
	index = binary.BigEndian.Uint64(b[len(snapshotMagic):snapshotHeaderLen])
	return index, b[snapshotHeaderLen:], nil
}
