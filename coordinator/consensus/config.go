package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Peer is one Raft server: its stable ID and the address peers dial.
type Peer struct {
	ID      string
	Address string
}

// Config configures a Node. Zero values take the DefaultConfig values, so a
// Config that sets only NodeID (and DataDir) is a working single node.
type Config struct {
	// NodeID is unique in the cluster and stable across restarts.
	NodeID string
	// DataDir holds the Raft log and stable store (raft-wal, in DataDir/wal)
	// and the snapshots (DataDir/snapshots). Give consensus its own folder,
	// e.g. <data-dir>/raft. Empty keeps everything in memory.
	DataDir string
	// Bind is the TCP address Raft listens on ("127.0.0.1:0" picks a port).
	// Ignored when Transport is set.
	Bind string
	// Advertise is the address peers dial; empty means the bound address,
	// which must then not be unspecified (0.0.0.0).
	Advertise string
	// Transport replaces TCP, e.g. raft.NewInmemTransport for in-process
	// simulations. The node closes it on Shutdown.
	Transport raft.Transport
	// Peers are the initial voters, this node included. A node with no Raft
	// state yet bootstraps the cluster with them; a node with none bootstraps
	// alone. All first members must be started with the same Peers.
	Peers []Peer
	// Join starts a node with no Raft state without bootstrapping: it waits to
	// be added by the leader's AddVoter. Peers must then be empty.
	Join bool
	// Logger receives the node's logs; raft's own logs come one level lower
	// (raft Info at Debug, Warn at Info, Error at Warn). Nil discards them.
	Logger *slog.Logger

	// HeartbeatTimeout is how long a follower waits without hearing from a
	// leader before it starts an election; the leader sends heartbeats ten
	// times as often.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for an election to end
	// before it starts another; at least HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a
	// quorum; at most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long the leader waits, when idle, before it
	// tells the followers the new commit index: it bounds how late a
	// follower learns that the last command committed.
	CommitTimeout time.Duration
	// SnapshotThreshold is the number of log entries since the last snapshot
	// above which a snapshot is taken (checked every SnapshotInterval, with
	// jitter up to twice that).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is how many entries a snapshot leaves in the log, so that
	// a follower a little behind catches up from the log, not a snapshot.
	TrailingLogs uint64
}

// DefaultConfig returns the defaults: timings for coordinators on one LAN
// (a failed leader is replaced in about 0.5–1.5 s) and raft's snapshot policy.
func DefaultConfig() Config {
	return Config{
		Bind:               "127.0.0.1:0",
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
	}
}

// withDefaults fills the zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Bind, d.Bind)
	setDefault(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&c.ElectionTimeout, d.ElectionTimeout)
	setDefault(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDefault(&c.CommitTimeout, d.CommitTimeout)
	setDefault(&c.SnapshotThreshold, d.SnapshotThreshold)
	setDefault(&c.SnapshotInterval, d.SnapshotInterval)
	setDefault(&c.TrailingLogs, d.TrailingLogs)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports every problem of the config (zero fields read as their
// defaults), wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := append(c.checkIdentity(), c.checkTimings()...)
	errs = append(errs, c.checkPeers()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func (c Config) checkIdentity() []error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("NodeID is empty"))
	}
	if c.Transport == nil {
		if _, _, err := net.SplitHostPort(c.Bind); err != nil {
			errs = append(errs, fmt.Errorf("bind address %q (Bind): %v", c.Bind, err))
		}
	}
	if c.Advertise != "" && c.Transport == nil {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertised address %q (Advertise): %v", c.Advertise, err))
		}
	}
	return errs
}

func (c Config) checkTimings() []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.HeartbeatTimeout >= 5*time.Millisecond, "HeartbeatTimeout %v is under 5ms", c.HeartbeatTimeout)
	check(c.ElectionTimeout >= c.HeartbeatTimeout, "ElectionTimeout %v is under HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	check(c.LeaderLeaseTimeout >= 5*time.Millisecond, "LeaderLeaseTimeout %v is under 5ms", c.LeaderLeaseTimeout)
	check(c.LeaderLeaseTimeout <= c.HeartbeatTimeout, "LeaderLeaseTimeout %v exceeds HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	check(c.CommitTimeout >= time.Millisecond, "CommitTimeout %v is under 1ms", c.CommitTimeout)
	check(c.SnapshotInterval >= 5*time.Millisecond, "SnapshotInterval %v is under 5ms", c.SnapshotInterval)
	return errs
}

func (c Config) checkPeers() []error {
	var errs []error
	if c.Join && len(c.Peers) > 0 {
		errs = append(errs, errors.New("a joining node (Join) has no Peers: the leader adds it"))
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, p := range c.Peers {
		if p.ID == "" || p.Address == "" {
			errs = append(errs, fmt.Errorf("peer %+v lacks an ID or an address", p))
		}
		if ids[p.ID] || addrs[p.Address] {
			errs = append(errs, fmt.Errorf("peer %+v is listed twice", p))
		}
		ids[p.ID], addrs[p.Address] = true, true
	}
	if len(c.Peers) > 0 && !ids[c.NodeID] {
		errs = append(errs, fmt.Errorf("the Peers do not include this node %q (set Join to join a running cluster)", c.NodeID))
	}
	return errs
}

// raftConfig is the raft.Config of a validated Config.
func (c Config) raftConfig(notify chan<- bool) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.NotifyCh = notify
	rc.Logger = newHCLogger(c.Logger, "raft")
	// A removed node stays up as an idle follower; Shutdown stops it, so the
	// node's lifecycle has one owner.
	rc.ShutdownOnRemove = false
	return rc
}

// bootstrapConfiguration is the first configuration: Peers, or this node
// alone at its transport's address.
func (c Config) bootstrapConfiguration(self raft.ServerAddress) raft.Configuration {
	if len(c.Peers) == 0 {
		return raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(c.NodeID), Address: self,
		}}}
	}
	servers := make([]raft.Server, 0, len(c.Peers))
	for _, p := range c.Peers {
		servers = append(servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address),
		})
	}
	return raft.Configuration{Servers: servers}
}
