package consensus

import (
	"context"
	"strconv"

	"github.com/hashicorp/raft"
)

// ID is the node's ID.
func (n *Node) ID() string { return n.id }

// Address is the address peers reach this node at.
func (n *Node) Address() string { return string(n.trans.LocalAddr()) }

// Done is closed when the node shuts down.
func (n *Node) Done() <-chan struct{} { return n.stop }

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
