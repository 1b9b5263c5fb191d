package e2e

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator"
	"github.com/tabshard/tabshard/coordinator/api"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Options shape a simulated cluster. Zero values take the defaults noted.
type Options struct {
	// Coordinators is the number of Raft voters (default 3).
	Coordinators int
	// Stages is the number of pipeline stages (default 3) and Standbys the
	// standbys of each (default 1).
	Stages   int
	Standbys int
	// Workers is how many workers start (default Stages*(1+Standbys)): the
	// first plan waits for all of them.
	Workers int
	// Seed drives every choice the harness makes: which worker of a stage
	// a fault hits when several fit, and how long after its token it fires.
	Seed uint64
	// ModelPath is the GGUF file the coordinators serve ("" the bundled
	// stories260K).
	ModelPath string
	// ModelServerURL and ModelKey: workers read the model from this model
	// server of another origin (modelauth.FileServer) with grants the
	// coordinators sign with ModelKey.
	ModelServerURL string
	ModelKey       []byte
	// MaxSessions, MaxQueued and QueueWait are the coordinators'
	// admission (0: their defaults); Context the positions of a session
	// (0: the model's).
	MaxSessions, MaxQueued int
	QueueWait              time.Duration
	Context                int
	// ResumeWindow is how long a session whose client left waits for it
	// (0: the coordinators' default).
	ResumeWindow time.Duration
	// WorkerMemory is each worker's memory budget (default 1 GiB).
	WorkerMemory uint64
	// SessionRetention is how long a finished session's activation log is
	// kept (0: the coordinator's default).
	SessionRetention time.Duration
	// APIKeys and AdminKeys configure the coordinators' HTTP API (nil: an
	// open API, no admin).
	APIKeys, AdminKeys *api.KeySet
	// Timings (defaults: heartbeat 50ms, lease 250ms, Raft 200ms, step
	// timeout 1s).
	Heartbeat, Lease, RaftTimeouts, StepTimeout time.Duration
	// SnapshotThreshold is how many Raft entries trigger a snapshot
	// (default 16, so that restarts recover from a snapshot and a log).
	SnapshotThreshold uint64
	// EmbeddedBus gives each coordinator its own embedded NATS server, the
	// servers joined into one NATS cluster by authenticated routes with the
	// activation log replicated (as `tabshard up --nats-routes`), so that
	// killing a coordinator kills a NATS server too. Otherwise every
	// coordinator uses one shared server, standing in for an external NATS
	// cluster (faster to start).
	EmbeddedBus bool
	// Dir holds the coordinators' data; "" makes a temporary one that Close
	// removes.
	Dir string
	// Log receives every coordinator's and worker's logs; nil discards
	// them (the timeline still gets what it needs).
	Log slog.Handler
	// Timeline records the run; nil starts a new one.
	Timeline *Timeline
	// NoJoinToken starts the coordinators with no join token: the first
	// leader makes one, and workers take it from a coordinator.
	NoJoinToken bool
	// CredentialTTL is how long workers' bus credentials last (0: the
	// coordinator's default, an hour).
	CredentialTTL time.Duration
	// LinkDelay is the latency of each worker's network to NATS: each read
	// of the worker's connection returns this much later (default 2 ms; -1
	// none; a serial delay, so a long transfer is slowed by it once per
	// read buffer). The token loop needs no coordinator on its path, so on
	// loopback the bundled model runs a 60-token stream in about 30 ms:
	// faster than a fault scheduled at a token can land while it runs.
	LinkDelay time.Duration
	// RoundWait is the workers' agent.Config.RoundWait (0: its default,
	// negative: never wait).
	RoundWait time.Duration
}

func (o *Options) defaults() {
	setDefault(&o.Coordinators, 3)
	setDefault(&o.Stages, 3)
	setDefault(&o.Standbys, 1)
	setDefault(&o.Workers, o.Stages*(1+o.Standbys))
	setDefault(&o.Heartbeat, 50*time.Millisecond)
	setDefault(&o.Lease, 250*time.Millisecond)
	setDefault(&o.RaftTimeouts, 200*time.Millisecond)
	setDefault(&o.StepTimeout, time.Second)
	setDefault(&o.SnapshotThreshold, 16)
	setDefault(&o.WorkerMemory, 1<<30)
	setDefault(&o.LinkDelay, 2*time.Millisecond)
	if o.Timeline == nil {
		o.Timeline = NewTimeline()
	}
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// clusterName names the simulated cluster in NATS subjects.
const clusterName = "sim"

// Cluster is an in-process tabshard cluster: one NATS server (standing in
// for an external NATS cluster, in operator mode with an account made for
// tabshard, as docs/security.md tells an operator to set one up) or, with
// EmbeddedBus, the coordinators' own servers routed into one, K
// coordinators replicating through Raft over in-memory transports, and N
// workers, all the code the binaries run.
type Cluster struct {
	opts    Options
	tl      *Timeline
	log     *slog.Logger
	nats    *bus.Server  // the shared server; nil with EmbeddedBus
	account *bus.Account // signs the harness's credentials
	seed    []byte       // the shared server's account seed, given to the coordinators
	nc      *nats.Conn   // the harness's own connection, a coordinator's credentials
	dir     string
	tempDir bool
	token   string

	mu      sync.Mutex
	rng     *rand.Rand
	coords  []*coordSlot
	workers []*Worker
	loaded  map[string]int // worker id → stage it has loaded
	closed  bool
}

// coordSlot is one coordinator's identity across restarts.
type coordSlot struct {
	id, addr string
	route    string // its NATS route listener, with EmbeddedBus
	dir      string
	c        *coordinator.Coordinator // nil while down
	trans    *raft.InmemTransport
}

// Start starts the cluster: NATS, the coordinators, then the workers. It
// does not wait for a plan: see WaitReady.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	opts.defaults()
	c := &Cluster{opts: opts, tl: opts.Timeline, rng: rand.New(rand.NewPCG(opts.Seed, 0x7ab5)),
		loaded: map[string]int{}}
	if !opts.NoJoinToken {
		c.token = fmt.Sprintf("sim-%d", opts.Seed)
	}
	c.log = slog.New(newLogHandler(c.tl, opts.Log))
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.dir = opts.Dir; c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "tabshard-e2e-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	if !opts.EmbeddedBus {
		if err := c.startNATS(); err != nil {
			return nil, err
		}
	}
	routes, err := freeAddrs(opts.Coordinators)
	if err != nil {
		return nil, err
	}
	for i := range opts.Coordinators {
		id := fmt.Sprintf("c%d", i+1)
		c.coords = append(c.coords, &coordSlot{id: id, addr: "inmem-" + id, route: routes[i], dir: filepath.Join(c.dir, id)})
	}
	if err := c.startCoordinators(ctx, c.coords); err != nil {
		return nil, err
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	c.tl.Add(KindCluster, nil, "%d coordinators up, NATS at %s", opts.Coordinators, c.natsURLs())
	for range opts.Workers {
		c.AddWorker(ctx)
	}
	return c, nil
}

// startNATS starts the shared NATS server, trusting an operator and
// account of random keys whose seed the coordinators get.
func (c *Cluster) startNATS() error {
	secret := make([]byte, bus.SecretBytes)
	crand.Read(secret)
	trust, err := bus.DeriveTrust(secret)
	if err != nil {
		return err
	}
	c.account = trust.Account()
	if c.seed, err = c.account.Seed(); err != nil {
		return err
	}
	c.nats, err = bus.StartServer(bus.ServerConfig{Trust: trust, Port: 0, WebSocketPort: -1, Logger: c.log.With("component", "nats")})
	return err
}

// connect connects the harness with a coordinator's credentials: of the
// shared server's account, or, with EmbeddedBus, of the account the
// coordinators derive from the cluster secret in their state.
func (c *Cluster) connect() error {
	if c.account == nil {
		trust, err := bus.DeriveTrust(c.State().GetSecrets().GetClusterSecret())
		if err != nil {
			return err
		}
		c.account = trust.Account()
	}
	creds, err := c.account.Coordinator("tabshard-sim")
	if err != nil {
		return err
	}
	c.nc, err = bus.Connect(c.natsURLs(), nats.Name("tabshard-sim"), creds.Option())
	return err
}

// JoinToken is the token workers join with: the one the coordinators were
// given, else the one their first leader made ("" while none runs).
func (c *Cluster) JoinToken() string {
	if c.token != "" {
		return c.token
	}
	for _, co := range c.Coordinators() {
		return co.JoinToken()
	}
	return ""
}

// BusConn opens a connection to the cluster's NATS with opts (no
// credentials unless opts carry some); the caller closes it.
func (c *Cluster) BusConn(opts ...nats.Option) (*nats.Conn, error) {
	return bus.Connect(c.natsURLs(), opts...)
}

// Timeline is the cluster's timeline.
func (c *Cluster) Timeline() *Timeline { return c.tl }

// Options are the cluster's options, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// startCoordinators starts the given (stopped) coordinators, each with a
// fresh in-memory Raft transport at its old address, connected both ways
// to every running coordinator's.
func (c *Cluster) startCoordinators(ctx context.Context, slots []*coordSlot) error {
	c.mu.Lock()
	var peers, routes []string
	for _, s := range c.coords {
		peers = append(peers, s.id+"="+s.addr)
		routes = append(routes, s.id+"="+s.route)
	}
	for _, s := range slots {
		_, s.trans = raft.NewInmemTransport(raft.ServerAddress(s.addr))
	}
	for _, s := range slots {
		for _, o := range c.coords {
			if o == s || o.trans == nil || (o.c == nil && !contains(slots, o)) {
				continue
			}
			s.trans.Connect(raft.ServerAddress(o.addr), o.trans)
			o.trans.Connect(raft.ServerAddress(s.addr), s.trans)
		}
	}
	c.mu.Unlock()
	start := func(s *coordSlot) error {
		cfg := coordinator.Config{
			NodeID: s.id, DataDir: s.dir, Cluster: clusterName, JoinToken: c.token, ModelPath: c.opts.ModelPath,
			ModelServerURL: c.opts.ModelServerURL, ModelKey: c.opts.ModelKey, SessionRetention: c.opts.SessionRetention,
			APIKeys: c.opts.APIKeys, AdminKeys: c.opts.AdminKeys,
			HTTPAddr: "127.0.0.1:0", RaftPeers: peers, RaftTransport: s.trans,
			RaftTimeouts: c.opts.RaftTimeouts, RaftSnapshotThreshold: c.opts.SnapshotThreshold, RaftSnapshotInterval: 50 * time.Millisecond,
			Heartbeat: c.opts.Heartbeat, Lease: c.opts.Lease, StepTimeout: c.opts.StepTimeout,
			MinWorkers: c.opts.Workers, Stages: c.opts.Stages, Standbys: c.opts.Standbys, CredentialTTL: c.opts.CredentialTTL,
			MaxSessions: c.opts.MaxSessions, MaxQueued: c.opts.MaxQueued, QueueWait: c.opts.QueueWait, Context: c.opts.Context, ResumeWindow: c.opts.ResumeWindow,
			Logger: c.log.With("coordinator", s.id),
		}
		if c.opts.EmbeddedBus {
			cfg.NATSHost, cfg.NATSPort, cfg.NATSWebSocketPort = "127.0.0.1", 0, -1
			cfg.NATSRoutes, cfg.NATSClusterSecret = routes, c.routeSecret()
		} else {
			cfg.NATSURL, cfg.NATSAccountSeed = c.nats.ClientURL(), c.seed
		}
		co, err := coordinator.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("coordinator %s: %w", s.id, err)
		}
		c.mu.Lock()
		s.c = co
		c.mu.Unlock()
		return nil
	}
	// Concurrently, as processes would start: a coordinator starts once a
	// leader has set the cluster's secrets, and its embedded server once
	// the NATS cluster's JetStream has a majority.
	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Go(func() { errs[i] = start(s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// routeSecret is the secret the embedded servers' routes share.
func (c *Cluster) routeSecret() string { return "sim-route-secret-" + c.token }

// natsURLs are the NATS servers a client of the harness connects to,
// comma-separated: the shared one, or every running coordinator's.
func (c *Cluster) natsURLs() string {
	if c.nats != nil {
		return c.nats.ClientURL()
	}
	var urls []string
	for _, co := range c.Coordinators() {
		urls = append(urls, co.NATSURL())
	}
	return strings.Join(urls, ",")
}

// freeAddrs picks n free loopback addresses for route listeners.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked, so none repeats
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func contains(slots []*coordSlot, s *coordSlot) bool {
	for _, o := range slots {
		if o == s {
			return true
		}
	}
	return false
}

// stopCoordinator closes one coordinator and cuts its Raft links.
func (c *Cluster) stopCoordinator(s *coordSlot) {
	c.mu.Lock()
	co := s.c
	s.c = nil
	c.mu.Unlock()
	if co == nil {
		return
	}
	co.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.coords {
		if o != s && o.trans != nil {
			o.trans.Disconnect(raft.ServerAddress(s.addr))
		}
	}
}

// URLs are the HTTP URLs of the running coordinators, in id order.
func (c *Cluster) URLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.coords {
		if s.c != nil {
			out = append(out, s.c.HTTPURL())
		}
	}
	return out
}

// Coordinators are the running coordinators.
func (c *Cluster) Coordinators() []*coordinator.Coordinator {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*coordinator.Coordinator
	for _, s := range c.coords {
		if s.c != nil {
			out = append(out, s.c)
		}
	}
	return out
}

// Leader is the running coordinator that leads, or nil.
func (c *Cluster) Leader() *coordinator.Coordinator {
	for _, co := range c.Coordinators() {
		if co.IsLeader() {
			return co
		}
	}
	return nil
}

// State is the state the leader (else any coordinator) applied.
func (c *Cluster) State() *tabshardv1.ClusterState {
	if l := c.Leader(); l != nil {
		return l.State()
	}
	for _, co := range c.Coordinators() {
		return co.State()
	}
	return &tabshardv1.ClusterState{}
}

// WaitReady waits until a leader has committed a plan of the configured
// stages, every primary in it has loaded its stage and every standby a
// stage it stands by for.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		if c.ready() {
			st := c.State()
			c.tl.Add(KindCluster, nil, "ready: epoch %d, %s", st.GetEpoch(), describePlan(st.GetPlan()))
			return nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("cluster not ready: %w (state: epoch %d, %s)", err, c.State().GetEpoch(), describePlan(c.State().GetPlan()))
		}
	}
}

func (c *Cluster) ready() bool {
	if c.Leader() == nil {
		return false
	}
	plan := c.State().GetPlan()
	if len(plan.GetStages()) != c.opts.Stages {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A standby of several stages preloads one of them.
	for _, s := range plan.GetStages() {
		if st, ok := c.loaded[s.GetDeviceId()]; !ok || st != int(s.GetIndex()) {
			return false
		}
		for _, id := range s.GetStandbyDeviceIds() {
			if _, ok := c.loaded[id]; !ok {
				return false
			}
		}
	}
	return true
}

// describePlan is "stage0=w1(+w4) stage1=w2(+w5) ...".
func describePlan(p *tabshardv1.Plan) string {
	if p == nil {
		return "no plan"
	}
	out := ""
	for _, s := range p.GetStages() {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("stage%d=%s", s.GetIndex(), s.GetDeviceId())
		for _, sb := range s.GetStandbyDeviceIds() {
			out += "(+" + sb + ")"
		}
	}
	return out
}

// KillLeader closes the coordinator that leads and returns its id.
func (c *Cluster) KillLeader() (string, error) {
	c.mu.Lock()
	var slot *coordSlot
	for _, s := range c.coords {
		if s.c != nil && s.c.IsLeader() {
			slot = s
		}
	}
	c.mu.Unlock()
	if slot == nil {
		return "", errors.New("no coordinator leads")
	}
	c.tl.Add(KindFault, map[string]string{"coordinator": slot.id}, "kill the Raft leader %s", slot.id)
	c.stopCoordinator(slot)
	return slot.id, nil
}

// KillCoordinator closes coordinator id (with EmbeddedBus, its NATS
// server too).
func (c *Cluster) KillCoordinator(id string) error {
	c.mu.Lock()
	var slot *coordSlot
	for _, s := range c.coords {
		if s.id == id && s.c != nil {
			slot = s
		}
	}
	c.mu.Unlock()
	if slot == nil {
		return fmt.Errorf("no coordinator %s is running", id)
	}
	lead := ""
	if slot.c.IsLeader() {
		lead = " (the Raft leader)"
	}
	c.tl.Add(KindFault, map[string]string{"coordinator": id}, "kill coordinator %s%s", id, lead)
	c.stopCoordinator(slot)
	return nil
}

// CoordinatorURL is the HTTP URL of coordinator id, "" when it is down.
func (c *Cluster) CoordinatorURL(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.coords {
		if s.id == id && s.c != nil {
			return s.c.HTTPURL()
		}
	}
	return ""
}

// RestartCoordinators stops every coordinator, then starts them all again
// from their data directories (Raft log and snapshots).
func (c *Cluster) RestartCoordinators(ctx context.Context) error {
	c.tl.Add(KindFault, nil, "stop every coordinator")
	var wg sync.WaitGroup
	for _, s := range c.coords {
		wg.Go(func() { c.stopCoordinator(s) })
	}
	wg.Wait()
	if err := c.startCoordinators(ctx, c.coords); err != nil {
		return err
	}
	c.tl.Add(KindCluster, nil, "every coordinator restarted from its log and snapshot")
	return nil
}

// RestartStopped starts again the coordinators that were stopped (a
// killed leader, say).
func (c *Cluster) RestartStopped(ctx context.Context) error {
	var down []*coordSlot
	c.mu.Lock()
	for _, s := range c.coords {
		if s.c == nil {
			down = append(down, s)
		}
	}
	c.mu.Unlock()
	if len(down) == 0 {
		return nil
	}
	if err := c.startCoordinators(ctx, down); err != nil {
		return err
	}
	for _, s := range down {
		c.tl.Add(KindCluster, nil, "coordinator %s restarted from its log and snapshot", s.id)
	}
	return nil
}

// CheckConsistency waits until every running coordinator has applied the
// same state (membership, plan, epoch, sessions), or fails after timeout.
func (c *Cluster) CheckConsistency(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.sameState()
		if err == nil {
			return nil
		}
		if sleep(ctx, 20*time.Millisecond) != nil {
			return err
		}
	}
}

func (c *Cluster) sameState() error {
	cs := c.Coordinators()
	if len(cs) == 0 {
		return errors.New("no coordinator is running")
	}
	ref := cs[0].State()
	for _, co := range cs[1:] {
		if st := co.State(); !proto.Equal(st, ref) {
			return fmt.Errorf("coordinators %s and %s disagree: epoch %d vs %d, %d vs %d members, plan %s vs %s",
				cs[0].NodeID(), co.NodeID(), ref.GetEpoch(), st.GetEpoch(), len(ref.GetMembers()), len(st.GetMembers()),
				describePlan(ref.GetPlan()), describePlan(st.GetPlan()))
		}
	}
	return nil
}

// publishStale publishes a message in a fenced worker's name, as its late
// output would arrive.
func (c *Cluster) publishStale(t *tabshardv1.Token) error {
	return bus.Publish(c.nc, bus.Subjects{Cluster: clusterName}.Token(t.GetProducerWorkerId()), t)
}

// Close stops the workers, the coordinators and NATS, and removes the
// temporary data.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	workers := append([]*Worker(nil), c.workers...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.stop(nil) })
	}
	wg.Wait()
	for _, s := range c.coords {
		wg.Go(func() { c.stopCoordinator(s) })
	}
	wg.Wait()
	if c.nc != nil {
		c.nc.Close()
	}
	if c.nats != nil {
		c.nats.Shutdown()
	}
	if c.tempDir {
		os.RemoveAll(c.dir)
	}
	http.DefaultClient.CloseIdleConnections()
}
