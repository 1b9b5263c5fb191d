package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Node is one Raft server replicating a StateMachine. Its methods are safe
// for concurrent use.
type Node struct {
	id     string
	log    *slog.Logger
	raft   *raft.Raft
	fsm    *fsm
	stores *stores
	trans  raft.Transport

	leaderEvents *leaderEvents
	leaderSeen   *broadcast // fired on every change of the known leader
	observer     *raft.Observer

	stop         chan struct{} // closed by Shutdown
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

// Start opens the stores, bootstraps the cluster when the node has no Raft
// state yet (unless cfg.Join), restores the latest snapshot into sm and
// starts Raft. The log entries after the snapshot are applied in the
// background, once a leader says they are committed.
func Start(cfg Config, sm StateMachine) (*Node, error) {
	if sm == nil {
		return nil, fmt.Errorf("%w: nil state machine", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	hl := newHCLogger(cfg.Logger, "raft")
	st, err := openStores(cfg.DataDir, hl)
	if err != nil {
		return nil, err
	}
	trans, err := cfg.transport(hl)
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	n, err := start(cfg, sm, st, trans)
	if err != nil {
		if cfg.Transport == nil {
			_ = trans.(raft.WithClose).Close()
		}
		return nil, errors.Join(err, st.close())
	}
	return n, nil
}

// transport is cfg.Transport or a new TCP transport.
func (c Config) transport(hl *hcLogger) (raft.Transport, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	trans, err := newTCPTransport(c.Bind, c.Advertise, hl)
	if err != nil {
		return nil, err
	}
	return trans, nil
}

func start(cfg Config, sm StateMachine, st *stores, trans raft.Transport) (*Node, error) {
	notify := make(chan bool, 1)
	rc := cfg.raftConfig(notify)
	bootstrapped, err := bootstrapIfNew(cfg, rc, st, trans)
	if err != nil {
		return nil, err
	}
	n := &Node{
		id:           cfg.NodeID,
		log:          cfg.Logger.With("component", "consensus", "node", cfg.NodeID),
		fsm:          newFSM(sm, cfg.Logger),
		stores:       st,
		trans:        trans,
		leaderEvents: newLeaderEvents(),
		leaderSeen:   newBroadcast(),
		stop:         make(chan struct{}),
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, st.logs, st.stable, st.snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.watch(notify)
	n.log.Info("raft node started", "address", trans.LocalAddr(), "data_dir", cfg.DataDir,
		"bootstrapped", bootstrapped, "applied_index", n.AppliedIndex())
	return n, nil
}

// bootstrapIfNew writes the first configuration when the node has no state
// and is not joining an existing cluster.
func bootstrapIfNew(cfg Config, rc *raft.Config, st *stores, trans raft.Transport) (bool, error) {
	if cfg.Join {
		return false, nil
	}
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err != nil || has {
		return false, err
	}
	conf := cfg.bootstrapConfiguration(trans.LocalAddr())
	if err := raft.BootstrapCluster(rc, st.logs, st.stable, st.snaps, trans, conf); err != nil {
		return false, fmt.Errorf("bootstrap raft: %w", err)
	}
	return true, nil
}

// watch forwards raft's leadership notifications and leader observations
// until Shutdown.
func (n *Node) watch(notify <-chan bool) {
	observations := make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case v := <-notify:
				n.leaderEvents.push(v)
			case <-observations:
				n.leaderSeen.fire()
			case <-n.stop:
				n.drainNotify(notify)
				return
			}
		}
	}()
}

// drainNotify forwards the notification raft may leave behind while it
// shuts down (losing leadership).
func (n *Node) drainNotify(notify <-chan bool) {
	for {
		select {
		case v := <-notify:
			n.leaderEvents.push(v)
		default:
			return
		}
	}
}

// ID is the node's ID.
func (n *Node) ID() string { return n.id }

// Address is the address peers reach this node at.
func (n *Node) Address() string { return string(n.trans.LocalAddr()) }

// Done is closed when the node shuts down.
func (n *Node) Done() <-chan struct{} { return n.stop }

// Apply proposes cmd and returns once it is committed and applied to this
// node's state machine, with the state machine's rejection if any (matching
// both ErrRejected and the state machine's error). Only the leader accepts
// commands: elsewhere the error is a *NotLeaderError. After ErrLeadershipLost
// or a context error the command may or may not commit.
func (n *Node) Apply(ctx context.Context, cmd *tabshardv1.Command) error {
	if cmd == nil {
		return fmt.Errorf("%w: nil command", ErrMalformedCommand)
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedCommand, err)
	}
	var resp any
	err = n.await(ctx, func(timeout time.Duration) error {
		f := n.raft.Apply(data, timeout)
		if err := f.Error(); err != nil {
			return err
		}
		resp = f.Response()
		return nil
	})
	if err != nil {
		return err
	}
	if rejected, ok := resp.(error); ok {
		return rejected
	}
	return nil
}

// Barrier returns once the state machine has applied every command
// committed before it (leader only). A new leader calls it before it decides
// anything from its state.
func (n *Node) Barrier(ctx context.Context) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.Barrier(timeout).Error()
	})
}

// AddVoter adds a voting server, or updates its address (leader only).
func (n *Node) AddVoter(ctx context.Context, id, address string) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, timeout).Error()
	})
}

// RemoveServer removes a server from the cluster (leader only). A removed
// node stays up, idle, until it is shut down.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
	})
}

// Snapshot takes a snapshot now and compacts the log. Nothing new since the
// last snapshot is not an error.
func (n *Node) Snapshot(ctx context.Context) error {
	err := n.await(ctx, func(time.Duration) error {
		return n.raft.Snapshot().Error()
	})
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// Servers is the latest cluster configuration (possibly not yet committed).
func (n *Node) Servers() ([]Peer, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.translate(err)
	}
	servers := f.Configuration().Servers
	peers := make([]Peer, 0, len(servers))
	for _, s := range servers {
		peers = append(peers, Peer{ID: string(s.ID), Address: string(s.Address)})
	}
	return peers, nil
}

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader is the leader this node knows of; empty when none is.
func (n *Node) Leader() (id, address string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// WaitLeader waits until this node knows a leader and returns it.
func (n *Node) WaitLeader(ctx context.Context) (id, address string, err error) {
	for {
		changed := n.leaderSeen.wait()
		if id, address = n.Leader(); id != "" {
			return id, address, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-n.stop:
			return "", "", ErrShutdown
		}
	}
}

// LeaderChanges delivers true when this node becomes the leader and false
// when it stops being the leader. It is meant for one reader; raft never
// waits for it: if the reader falls 16 events behind, the oldest are dropped,
// so the last value read is always the current one. It is closed after
// Shutdown.
func (n *Node) LeaderChanges() <-chan bool { return n.leaderEvents.ch }

// Stats is the node's Raft state for /metrics: raft's own stats (state,
// term, last_log_index, commit_index, applied_index, num_peers, …) plus
// node_id, leader, leader_id and fsm_index (the last log index the state
// machine reflects).
func (n *Node) Stats() map[string]string {
	select {
	case <-n.stop:
		return map[string]string{"node_id": n.id, "state": raft.Shutdown.String()}
	default:
	}
	s := n.raft.Stats()
	s["node_id"] = n.id
	s["leader_id"], s["leader"] = n.Leader()
	s["fsm_index"] = strconv.FormatUint(n.AppliedIndex(), 10)
	return s
}

// Shutdown stops Raft, its transport and its goroutines, and closes the
// stores. It is idempotent; the state machine keeps its state.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() { n.shutdownErr = n.shutdown() })
	return n.shutdownErr
}

func (n *Node) shutdown() error {
	// raft closes the transport once its goroutines are done.
	err := n.raft.Shutdown().Error()
	n.raft.DeregisterObserver(n.observer)
	close(n.stop)
	n.wg.Wait()
	close(n.leaderEvents.ch)
	err = errors.Join(err, n.stores.close())
	n.log.Info("raft node stopped", "applied_index", n.AppliedIndex())
	return err
}

// await runs op, which blocks on a raft future, and returns its error or
// the context's, whichever comes first. raft's futures cannot be cancelled:
// after a context error the operation may still take effect. op gets the
// context's remaining time as raft's enqueue timeout.
func (n *Node) await(ctx context.Context, op func(timeout time.Duration) error) error {
	if err := n.usable(ctx); err != nil {
		return err
	}
	var timeout time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- op(timeout) }()
	select {
	case err := <-done:
		return n.translate(err)
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stop:
		return ErrShutdown
	}
}

func (n *Node) usable(ctx context.Context) error {
	select {
	case <-n.stop:
		return ErrShutdown
	default:
		return ctx.Err()
	}
}

// translate maps raft's errors to this package's.
func (n *Node) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		id, addr := n.Leader()
		return &NotLeaderError{LeaderID: id, LeaderAddress: addr}
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	default:
		return fmt.Errorf("consensus: %w", err)
	}
}
