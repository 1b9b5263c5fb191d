// Package coordinator is the tabshard daemon: it keeps membership, plans,
// leases and sessions consistent through Raft (package consensus over the
// state machine of package state), talks to workers over NATS (package
// bus), serves clients over HTTP (package api), and, while it leads, takes
// the decisions: admit workers, expire silent ones, commit plans, drive
// each session's steps, and re-issue steps after a failover.
package coordinator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/modelauth"
)

// Clock is the time the daemon's decisions read; simulations control it.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// ErrConfig is an invalid configuration.
var ErrConfig = errors.New("invalid coordinator configuration")

// Config configures one coordinator.
type Config struct {
	// NodeID names this coordinator in the Raft cluster.
	NodeID string
	// DataDir holds the Raft log, snapshots, the join token and JetStream
	// data; "" keeps everything in memory (simulations).
	DataDir string
	// Cluster names the cluster in NATS subjects.
	Cluster string
	// JoinToken is the secret workers (and joining coordinators) must
	// present. The cluster keeps one in its replicated state, set by its
	// first leader: this one if given, else one kept in DataDir by an older
	// version, else a random one. A coordinator whose JoinToken differs
	// from the cluster's fails to start. "" takes the cluster's.
	JoinToken string
	// ModelPath is the GGUF file served; "" serves the bundled model.
	ModelPath string
	// HTTPAddr is where the HTTP API listens ("127.0.0.1:0" picks a port).
	HTTPAddr string
	// PublicURL is how workers reach HTTPAddr, when it differs.
	PublicURL string
	// ModelServerURL is the model file's address on a model server of
	// another origin (modelauth.FileServer) that tabs read from with
	// grants signed with ModelKey; "" serves the model here, unguarded.
	ModelServerURL string
	ModelKey       []byte
	// APIKeys, when set, are the keys /v1/ requests must present; nil
	// leaves the API open (sessions stay private by resume token).
	// AdminKeys may read every session and see content in /api/state.
	APIKeys, AdminKeys *api.KeySet
	// PublicHosts are the host names clients and workers reach the HTTP
	// API by, besides localhost, IP addresses and PublicURL's host: any
	// other Host header is refused (DNS rebinding).
	PublicHosts []string
	// SessionRetention is how long a finished session's activation log is
	// kept; 0 means DefaultSessionRetention. (Resuming reads the Raft
	// state, not the log: it works as long as the state keeps the session.)
	SessionRetention time.Duration
	// LogMaxAge and LogMaxBytes bound the whole activation log (0: the bus
	// package's defaults), for sessions that never end.
	LogMaxAge   time.Duration
	LogMaxBytes int64
	// WebDir serves the tab worker (worker.wasm, wasm_exec.js) from this
	// folder instead of the copy embedded at build time; "" uses the
	// embedded one (package web).
	WebDir string

	// NATSURL connects to an existing NATS cluster; "" embeds a server.
	NATSURL string
	// NATSAccountSeed is, with NATSURL, the seed ("SA...") of the NATS
	// account the operator created for tabshard: coordinators sign their
	// own and the workers' user JWTs with it (docs/security.md). The
	// embedded server needs none: its keys derive from the cluster secret.
	NATSAccountSeed []byte
	// AllowOrigins are page origins (scheme://host:port), besides this
	// coordinator's own, allowed to open the embedded NATS WebSocket.
	AllowOrigins []string
	// CredentialTTL is how long a worker's bus credentials are valid
	// (renewed at half their life); 0 means DefaultCredentialTTL.
	CredentialTTL time.Duration
	// NATSHost, NATSPort and NATSWebSocketPort are the embedded server's
	// listeners (-1 disables, 0 picks a port).
	NATSHost          string
	NATSPort          int
	NATSWebSocketPort int
	// NATSRoutes joins the coordinators' embedded NATS servers into one
	// NATS cluster, so that the bus and the activation log (kept in
	// bus.LogReplicas copies) outlive any one coordinator: the route
	// listener of every coordinator as "id=host:port", this node's
	// included (it binds there), the same list on each, with the ids of
	// RaftPeers. Empty: a standalone server. See natscluster.go.
	NATSRoutes []string
	// NATSClusterSecret authenticates the routes: the same on every
	// coordinator, at least bus.MinClusterSecret characters, and never
	// given to workers (a route sees all traffic). Empty: derived from the
	// replicated cluster secret (bus.RouteSecret).
	NATSClusterSecret string

	// RaftBind is the Raft TCP address; RaftPeers the initial voters
	// ("id=host:port"), empty for a single node.
	RaftBind  string
	RaftPeers []string
	// RaftJoin is a running coordinator's HTTP URL: this node starts
	// without bootstrapping and asks the cluster there, with JoinToken, to
	// add it as a voter. It needs JoinToken, the cluster's NATSURL (an
	// embedded server of its own would split the bus) and no RaftPeers.
	RaftJoin string
	// RaftTransport replaces TCP (in-process simulations).
	RaftTransport raft.Transport
	// RaftTimeouts shortens Raft's timers (simulations).
	RaftTimeouts time.Duration
	// RaftSnapshotThreshold and RaftSnapshotInterval override how many log
	// entries trigger a snapshot and how often that is checked (0: Raft's
	// defaults); simulations lower them so that restarts read snapshots.
	RaftSnapshotThreshold uint64
	RaftSnapshotInterval  time.Duration

	// Heartbeat is how often workers report; Lease how long one may be
	// silent before it is expired.
	Heartbeat time.Duration
	Lease     time.Duration
	// StepTimeout re-issues a session's pending step that made no progress.
	StepTimeout time.Duration
	// LeaderIssuesSteps puts the leader back on every token's path: it
	// commits each token, then issues the next step. By default (false)
	// the last stage sends each token straight to the first stage as the
	// next step's input, and the leader commits tokens behind the
	// pipeline, in batches (docs/coordinator.md, "One token").
	LeaderIssuesSteps bool
	// StallNotice is how long a client's stream waits with no progress
	// while a stage has no worker before it gets an error event saying so
	// (the session waits on; the client resumes it).
	StallNotice time.Duration
	// MinWorkers is how many workers the first plan waits for (0: until no
	// worker has joined for PlanWait, then every worker present); Stages how
	// many stages it makes (0: one per worker present, less the standbys,
	// or as many as pay off where that split cannot be planned); Standbys
	// how many standbys each stage gets.
	MinWorkers int
	// PlanWait is how long the first plan waits for another worker to join,
	// when MinWorkers is 0 (tabs are opened one by one), at most ten times
	// that after the first one.
	PlanWait time.Duration
	Stages   int
	Standbys int
	// Context is the positions each session may use (0: the model's).
	Context int
	// MaxSessions is how many sessions generate at once: the plan sizes
	// every stage's KV caches for that many, the leader admits that many
	// and the workers never evict one. MaxQueued more wait, in FIFO order,
	// for at most QueueWait each; past that a session is refused (HTTP 429
	// with Retry-After). Zero values take the defaults: 16 sessions, a
	// queue of 4 × MaxSessions, a minute's wait.
	MaxSessions int
	MaxQueued   int
	QueueWait   time.Duration
	// KVType is the element type the plan gives every stage's KV cache
	// and the planner budgets for: F32 (the zero value: what every backend
	// stores and the oracle computes), F16 or Q8_0 (half or about a quarter
	// of the memory, CPU workers only: a WebGPU stage stores F32 and
	// refuses the others).
	KVType kernels.DType
	// ActivationType is the type the plan has hidden states travel
	// between stages as: F32 (the zero value: exact) or F16 (half the
	// bytes, rounded at every hop: a prompt's pieces cost half).
	ActivationType kernels.DType
	// ResumeWindow is how long a session whose client went away before
	// its end waits for a client to follow it again (GET
	// /v1/sessions/<id>/events at this coordinator) before it is
	// cancelled; 0 takes DefaultResumeWindow.
	ResumeWindow time.Duration

	Clock  Clock
	Logger *slog.Logger
}

// DefaultSessionRetention is how long a finished session's activation log
// is kept when Config.SessionRetention is 0.
const DefaultSessionRetention = 10 * time.Minute

// DefaultStallNotice is Config.StallNotice's default.
const DefaultStallNotice = 10 * time.Second

// DefaultConfig is a single node on loopback with an embedded NATS server.
func DefaultConfig() Config {
	return Config{
		NodeID:            "c1",
		Cluster:           "default",
		HTTPAddr:          "127.0.0.1:8080",
		NATSHost:          "127.0.0.1",
		NATSPort:          4222,
		NATSWebSocketPort: 4223,
		RaftBind:          "127.0.0.1:7946",
		Heartbeat:         200 * time.Millisecond,
		Lease:             3 * time.Second, // a busy laptop compiling another tab's wasm must not lose its tabs
		StepTimeout:       3 * time.Second,
		StallNotice:       DefaultStallNotice,
		MinWorkers:        0,
		PlanWait:          3 * time.Second,
		Standbys:          0,
		MaxSessions:       DefaultMaxSessions,
		MaxQueued:         4 * DefaultMaxSessions,
		QueueWait:         time.Minute,
	}
}

// DefaultResumeWindow is the ResumeWindow unless told.
const DefaultResumeWindow = 10 * time.Second

// DefaultMaxSessions is the sessions a coordinator runs at once unless told.
const DefaultMaxSessions = 16

// Validate checks the configuration and fills in clock and logger.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeID == "":
		return bad("node id is empty")
	case c.Cluster == "":
		return bad("cluster name is empty")
	case c.Heartbeat <= 0 || c.Lease <= c.Heartbeat:
		return bad("lease %v must be longer than the heartbeat %v", c.Lease, c.Heartbeat)
	case c.StepTimeout <= 0:
		return bad("step timeout %v", c.StepTimeout)
	case c.RaftJoin != "" && (c.JoinToken == "" || len(c.RaftPeers) > 0 || c.NATSURL == ""):
		return bad("joining a cluster (--join %s) needs its join token, the cluster's NATS (--nats) and no --raft-peers", c.RaftJoin)
	case c.CredentialTTL < 0:
		return bad("negative credential lifetime %v", c.CredentialTTL)
	case c.StallNotice < 0:
		return bad("stall notice %v is negative", c.StallNotice)
	case c.MinWorkers < 0 || c.Stages < 0 || c.Standbys < 0 || c.Context < 0 || c.PlanWait < 0:
		return bad("negative worker, stage, standby or context count")
	case c.MaxSessions < 0 || c.MaxQueued < 0 || c.QueueWait < 0 || c.ResumeWindow < 0:
		return bad("negative session limit %d, queue %d or queue wait %v", c.MaxSessions, c.MaxQueued, c.QueueWait)
	case c.SessionRetention < 0 || c.LogMaxAge < 0 || c.LogMaxBytes < 0:
		return bad("negative session retention, log age or log size")
	case c.KVType != kernels.F32 && c.KVType != kernels.F16 && c.KVType != kernels.Q8_0:
		return bad("KV cache type %s (want f32, f16 or q8_0)", c.KVType)
	case c.ActivationType != kernels.F32 && c.ActivationType != kernels.F16:
		return bad("activation type %s (want f32 or f16)", c.ActivationType)
	case c.ModelServerURL != "" && len(c.ModelKey) < modelauth.MinKeyBytes:
		return bad("a model server (%s) needs a signing key of at least %d bytes", c.ModelServerURL, modelauth.MinKeyBytes)
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = 4 * c.MaxSessions
	}
	if c.ResumeWindow == 0 {
		c.ResumeWindow = DefaultResumeWindow
	}
	if c.QueueWait == 0 {
		c.QueueWait = time.Minute
	}
	if c.StallNotice == 0 {
		c.StallNotice = DefaultStallNotice
	}
	if c.SessionRetention == 0 {
		c.SessionRetention = DefaultSessionRetention
	}
	if err := c.validateNATSCluster(); err != nil {
		return err
	}
	if c.NATSURL != "" && len(c.NATSAccountSeed) == 0 {
		return bad("an external NATS (--nats %s) needs the seed of tabshard's NATS account (--nats-account-key-file; docs/security.md)", c.NATSURL)
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
