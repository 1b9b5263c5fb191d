package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
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

func start(cfg Config, sm StateMachine, st *stores, trans raft.Transport) (*Node, error) {
	notify := make(chan bool, 1)
	rc := cfg.raftConfig(notify)
	bootstrapped, err := bootstrapIfNew(cfg, rc, st, trans)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "consensus", "node", cfg.NodeID)
	n := &Node{
		id:           cfg.NodeID,
		log:          log,
		fsm:          newFSM(sm, log),
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
