package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/consensus"
	"github.com/tabshard/tabshard/coordinator/state"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/web"
)

// Coordinator is one running coordinator.
type Coordinator struct {
	cfg       Config
	machine   *watchedMachine
	node      *consensus.Node
	nats      *bus.Server // nil when using an external NATS
	nc        *nats.Conn
	secrets   *tabshardv1.ClusterSecrets // the replicated ones, once known
	account   *bus.Account               // signs user JWTs
	subj      bus.Subjects
	alog      *bus.ActivationLog
	model     *model.Model
	modelName string
	modelFile string // "" for the bundled model
	http      *http.Server
	httpLn    net.Listener
	metrics   *api.Metrics
	started   time.Time
	decider   *leader
	loads     workerLoads // what heartbeats say of loading, for the dashboard
	links     linkReports // the link latencies workers report, for plans

	done    chan struct{} // closed by Close
	follows followers     // clients following each session here
	mu      sync.Mutex
	leading bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool
}

// Start starts a coordinator: model, NATS, Raft, HTTP, and the goroutine
// that takes the leader's duties whenever this node leads.
func Start(ctx context.Context, cfg Config) (_ *Coordinator, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, machine: newWatchedMachine(), started: cfg.Clock.Now(), metrics: api.NewMetrics(), done: make(chan struct{})}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	// Raft comes first: the bus's keys derive from the cluster secret in the
	// replicated state. The HTTP listener opens before NATS so that the
	// WebSocket listener knows the pages' origin, but serves after it.
	steps := []func(context.Context) error{c.openModel, c.listenHTTP, c.startRaft, c.awaitSecrets, c.startNATS, c.startHTTP, c.subscribe}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.followLeadership(runCtx)
	}()
	return c, nil
}

func (c *Coordinator) openModel(context.Context) error {
	var err error
	if c.cfg.ModelPath == "" {
		c.model, err = bundled.Open()
		c.modelName = bundled.Name
		return err
	}
	if c.model, err = model.Open(c.cfg.ModelPath); err != nil {
		return err
	}
	c.modelFile = c.cfg.ModelPath
	c.modelName = strings.TrimSuffix(filepath.Base(c.cfg.ModelPath), filepath.Ext(c.cfg.ModelPath))
	return nil
}

func (c *Coordinator) openModelFile() (io.ReadSeeker, error) {
	if c.modelFile == "" {
		return strings.NewReader(string(bundled.Bytes())), nil
	}
	return os.Open(c.modelFile)
}

func (c *Coordinator) startNATS(ctx context.Context) error {
	subj, err := bus.NewSubjects(c.cfg.Cluster)
	if err != nil {
		return err
	}
	c.subj = subj
	name := "tabshard-coordinator " + c.cfg.NodeID
	logOpts := bus.LogOptions{MaxAge: c.cfg.LogMaxAge, MaxBytes: c.cfg.LogMaxBytes}
	if c.cfg.NATSURL != "" {
		if c.account, err = bus.ParseAccountSeed(c.cfg.NATSAccountSeed); err != nil {
			return fmt.Errorf("%w: --nats-account-key-file: %w", ErrConfig, err)
		}
		creds, err := c.account.Coordinator(name)
		if err != nil {
			return err
		}
		if c.nc, err = bus.Connect(c.cfg.NATSURL, nats.Name(name), creds.Option(), bus.LogEvents(c.cfg.Logger)); err != nil {
			return fmt.Errorf("nats %s: %w", c.cfg.NATSURL, err)
		}
	} else {
		trust, err := bus.DeriveTrust(c.secrets.GetClusterSecret())
		if err != nil {
			return err
		}
		c.account = trust.Account()
		sc := bus.ServerConfig{Trust: trust, Host: c.cfg.NATSHost, Port: c.cfg.NATSPort, WebSocketPort: c.cfg.NATSWebSocketPort,
			AllowedOrigins: c.pageOrigins(), Logger: c.cfg.Logger}
		if sc.Cluster, err = c.cfg.natsCluster(); err != nil {
			return err
		}
		if sc.Cluster.Enabled() {
			sc.Cluster.Secret = c.cfg.routeSecret(c.secrets.GetClusterSecret())
		}
		if c.cfg.DataDir != "" {
			sc.JetStreamDir = filepath.Join(c.cfg.DataDir, "jetstream")
		}
		if c.nats, err = bus.StartServer(sc); err != nil {
			return err
		}
		logOpts = c.nats.LogOptions()
		logOpts.MaxAge, logOpts.MaxBytes = c.cfg.LogMaxAge, c.cfg.LogMaxBytes
		creds, err := c.account.Coordinator(name)
		if err != nil {
			return err
		}
		if c.nc, err = c.nats.Connect(name, creds.Option(), bus.LogEvents(c.cfg.Logger)); err != nil {
			return err
		}
	}
	return c.openLog(ctx, logOpts)
}

func (c *Coordinator) startRaft(ctx context.Context) error {
	rc := consensus.Config{NodeID: c.cfg.NodeID, Bind: c.cfg.RaftBind, Transport: c.cfg.RaftTransport, Logger: c.cfg.Logger}
	if c.cfg.DataDir != "" {
		rc.DataDir = filepath.Join(c.cfg.DataDir, "raft")
	}
	if d := c.cfg.RaftTimeouts; d > 0 {
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout, rc.CommitTimeout = d, d, d, d/10
	}
	rc.SnapshotThreshold, rc.SnapshotInterval = c.cfg.RaftSnapshotThreshold, c.cfg.RaftSnapshotInterval
	for _, p := range c.cfg.RaftPeers {
		id, addr, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("%w: raft peer %q: want id=host:port", ErrConfig, p)
		}
		rc.Peers = append(rc.Peers, consensus.Peer{ID: id, Address: addr})
	}
	rc.Join = c.cfg.RaftJoin != ""
	var err error
	if c.node, err = consensus.Start(rc, c.machine); err != nil {
		return err
	}
	if rc.Join {
		return c.askToJoin(ctx)
	}
	return nil
}

// askToJoin asks the running cluster, through the HTTP API of the
// coordinator at cfg.RaftJoin and with the join token, to add this node.
func (c *Coordinator) askToJoin(ctx context.Context) error {
	req := &tabshardv1.AddCoordinatorRequest{NodeId: c.cfg.NodeID, RaftAddress: c.node.Address()}
	var last error
	for range 20 {
		err := postAddCoordinator(ctx, c.cfg.RaftJoin, c.cfg.JoinToken, req)
		if err == nil {
			c.cfg.Logger.Info("joined the Raft cluster", "node", c.cfg.NodeID, "address", c.node.Address(), "through", c.cfg.RaftJoin)
			return nil
		}
		if last = err; errors.Is(err, errRefused) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("joining the Raft cluster through %s: %w", c.cfg.RaftJoin, last)
}

// listenHTTP opens the HTTP listener; startHTTP serves it.
func (c *Coordinator) listenHTTP(context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http %s: %w", c.cfg.HTTPAddr, err)
	}
	c.httpLn = ln
	return nil
}

func (c *Coordinator) startHTTP(context.Context) error {
	ln := c.httpLn
	opts := api.Options{Metrics: c.metrics, JoinInfo: c.joinInfo, Admission: admission{c}, Logger: c.cfg.Logger, Pages: web.Handler(web.Options{WasmDir: c.cfg.WebDir}),
		APIKeys: c.cfg.APIKeys, AdminKeys: c.cfg.AdminKeys, Hosts: c.publicHosts(), ModelServerURL: c.cfg.ModelServerURL}
	if c.cfg.ModelServerURL != "" { // tabs read the model elsewhere, with grants signed here
		signer, err := modelauth.NewSigner(c.cfg.ModelKey)
		if err != nil {
			return err
		}
		opts.ModelGrant = &modelauth.Issuer{Signer: signer, File: c.model.File, URL: c.cfg.ModelServerURL, JoinToken: c.secrets.GetJoinToken(),
			Stage: modelauth.PlanStages(func() *tabshardv1.Plan { return c.machine.State().GetPlan() }), AwaitEpoch: c.waitEpoch, Now: c.cfg.Clock.Now}
	}
	handler := api.New(backend{c}, opts)
	c.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.cfg.Logger.Error("http server", "err", err)
		}
	}()
	// Steps go out without waiting for the log's acknowledgement: stage 0
	// has them as soon as the server routes them.
	steps := c.alog.Async(bus.AsyncOptions{Observer: logMetrics{m: c.metrics, by: "leader"}, Logger: c.cfg.Logger})
	c.decider = newLeader(&c.cfg, c.node, c.machine.Machine, c.nc, c.subj, steps, c.placement(), c.ModelURL(), c.metrics)
	c.decider.text = c.model.Tokenizer
	c.metrics.SetRaftStatus(c.raftStatus)
	return nil
}

// publicHosts are the names the HTTP API answers to besides localhost and
// addresses: --public-host names, PublicURL's host, and the listen
// address's host when it is a name.
func (c *Coordinator) publicHosts() []string {
	hosts := slices.Clone(c.cfg.PublicHosts)
	if u, err := url.Parse(c.cfg.PublicURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	if h, _, err := net.SplitHostPort(c.cfg.HTTPAddr); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return hosts
}

// joinInfo tells workers where NATS and the model are.
func (c *Coordinator) joinInfo(*http.Request) api.JoinInfo {
	info := api.JoinInfo{Cluster: c.cfg.Cluster, ModelURL: c.ModelURL()}
	if c.cfg.ModelServerURL != "" {
		info.ModelGrantURL = c.HTTPURL() + "/api/model-grant"
	}
	if c.nats != nil {
		info.NATSURLs, info.NATSWSURLs = c.nats.ClientURLs(), c.nats.WebSocketURLs()
	} else {
		info.NATSURLs = strings.Split(c.cfg.NATSURL, ",")
	}
	info.NATSURL, info.NATSWSURL = first(info.NATSURLs), first(info.NATSWSURLs)
	return info
}

// HTTPURL is the base URL of the HTTP API.
func (c *Coordinator) HTTPURL() string {
	if c.cfg.PublicURL != "" {
		return strings.TrimSuffix(c.cfg.PublicURL, "/")
	}
	return "http://" + c.httpLn.Addr().String()
}

// ModelURL is where workers read the served model.
func (c *Coordinator) ModelURL() string {
	if c.cfg.ModelServerURL != "" {
		return c.cfg.ModelServerURL
	}
	return c.HTTPURL() + "/model/" + c.modelName
}

// JoinToken is the token workers must present: the cluster's, from the
// replicated state.
func (c *Coordinator) JoinToken() string { return c.secrets.GetJoinToken() }

// NATSURL is the NATS address workers use.
func (c *Coordinator) NATSURL() string { return c.joinInfo(nil).NATSURL }

// NATSWebSocketURL is the NATS address tabs use ("" without one).
func (c *Coordinator) NATSWebSocketURL() string { return c.joinInfo(nil).NATSWSURL }

// NATSServer is the embedded NATS server, nil with an external one.
func (c *Coordinator) NATSServer() *bus.Server { return c.nats }

// State is the state this coordinator has applied.
func (c *Coordinator) State() *tabshardv1.ClusterState { return c.machine.State() }

// IsLeader reports whether this coordinator leads.
func (c *Coordinator) IsLeader() bool { return c.node.IsLeader() }

// NodeID is this coordinator's Raft id.
func (c *Coordinator) NodeID() string { return c.cfg.NodeID }

func (c *Coordinator) contextLength() int {
	if c.cfg.Context > 0 {
		return min(c.cfg.Context, c.model.Config.ContextLength)
	}
	return c.model.Config.ContextLength
}

// placement plans the bundled or given model over the workers.
func (c *Coordinator) placement() state.Placement {
	pm := planner.FromFile(c.modelName, c.model, nil)
	return state.Placement{
		MinWorkers: c.cfg.MinWorkers,
		PlanWaitMs: c.cfg.PlanWait.Milliseconds(),
		Standbys:   c.cfg.Standbys,
		Plan: func(devices []*tabshardv1.Device) (*tabshardv1.Plan, error) {
			// Each hop costs what the link the leader will pick for it
			// (state.SetLinks, after) costs, as the workers measured it.
			devices = planner.WithLinks(devices, state.HopLink, c.links.latency)
			o := planner.DefaultOptions()
			o.Context = c.contextLength()
			o.Standby = c.cfg.Standbys
			o.Stages = c.cfg.Stages
			o.Sessions = c.cfg.MaxSessions
			o.KVType = c.cfg.KVType
			o.ActivationType = c.cfg.ActivationType
			if o.Stages > 0 {
				return planner.Plan(pm, devices, o)
			}
			// Workers present are there to share the model: one stage
			// each, less the standbys; where that split cannot be
			// planned (more workers than blocks, a worker too small),
			// as many stages as pay off.
			o.Stages = min(len(devices)/(c.cfg.Standbys+1), c.model.Config.Layers)
			if plan, err := planner.Plan(pm, devices, o); err == nil {
				return plan, nil
			}
			o.Stages = 0
			return planner.Plan(pm, devices, o)
		},
	}
}

// subscribe listens to heartbeats and tokens on every coordinator; only the
// leader acts on them. Each comes on its sender's subject (hb.<worker>,
// token.<worker>), which the sender's credentials guarantee: a message
// that names another worker is rejected as forged.
func (c *Coordinator) subscribe(context.Context) error {
	ctx := context.Background()
	if _, err := bus.Subscribe(c.nc, c.subj.Heartbeats(), func() *tabshardv1.Heartbeat { return &tabshardv1.Heartbeat{} },
		func(hb *tabshardv1.Heartbeat, msg *nats.Msg) {
			if err := bus.CheckSender(msg.Subject, hb.GetWorkerId()); err != nil {
				c.decider.rejectForged("heartbeat", err)
				return
			}
			c.loads.heard(hb, c.cfg.Clock.Now())
			c.links.record(hb)
			c.decider.heard(ctx, hb)
		}, bus.WithLogger(c.cfg.Logger)); err != nil {
		return err
	}
	tokens := make(chan *tabshardv1.Token, 256)
	if _, err := bus.Subscribe(c.nc, c.subj.Tokens(), func() *tabshardv1.Token { return &tabshardv1.Token{} },
		func(t *tabshardv1.Token, msg *nats.Msg) {
			if err := bus.CheckSender(msg.Subject, t.GetProducerWorkerId()); err != nil {
				c.decider.rejectForged("token", err)
				return
			}
			tokens <- t
		}, bus.WithLogger(c.cfg.Logger)); err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case t := <-tokens:
				c.decider.onTokens(ctx, gatherTokens(t, tokens))
			case <-c.done:
				return
			}
		}
	}()
	return nil
}

// pageOrigins are the page origins allowed to open the embedded NATS
// WebSocket: this coordinator's own (its public URL, else its listener,
// under each loopback name when it listens on loopback or every address)
// and the configured ones (--allow-origin).
func (c *Coordinator) pageOrigins() []string {
	origins := slices.Clone(c.cfg.AllowOrigins)
	if c.cfg.PublicURL != "" {
		if u, err := url.Parse(c.cfg.PublicURL); err == nil && u.Host != "" {
			origins = append(origins, u.Scheme+"://"+u.Host)
		}
	}
	addr, ok := c.httpLn.Addr().(*net.TCPAddr)
	if !ok {
		return origins
	}
	port := strconv.Itoa(addr.Port)
	if addr.IP.IsLoopback() || addr.IP.IsUnspecified() {
		for _, host := range []string{"localhost", "127.0.0.1", "[::1]"} {
			origins = append(origins, "http://"+host+":"+port)
		}
	} else {
		origins = append(origins, "http://"+net.JoinHostPort(addr.IP.String(), port))
	}
	return origins
}

// followLeadership runs the leader's loop while this node leads.
func (c *Coordinator) followLeadership(ctx context.Context) {
	var stop context.CancelFunc
	var done chan struct{}
	changes := c.node.LeaderChanges()
	check := time.NewTicker(c.cfg.Heartbeat)
	defer check.Stop()
	for {
		leading := c.node.IsLeader()
		switch {
		case leading && stop == nil:
			var lctx context.Context
			lctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			c.setLeading(true)
			go func() {
				defer close(done)
				if err := c.node.Barrier(lctx); err == nil {
					c.decider.run(lctx)
				}
			}()
		case !leading && stop != nil:
			stop()
			<-done
			stop = nil
			c.setLeading(false)
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
				<-done
			}
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil
			}
		case <-check.C:
		}
	}
}

func (c *Coordinator) setLeading(v bool) {
	c.mu.Lock()
	c.leading = v
	c.mu.Unlock()
	c.cfg.Logger.Info("leadership", "node", c.cfg.NodeID, "leader", v)
}

// currentLeader is the decider when this node leads, else nil.
func (c *Coordinator) currentLeader() *leader {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leading && c.node.IsLeader() {
		return c.decider
	}
	return nil
}

// waitSession waits briefly for a session to appear in this node's log.
func (c *Coordinator) waitSession(ctx context.Context, id string) error {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		changed := c.machine.Changed()
		if state.Session(c.machine.State(), id) != nil {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("session %s unknown", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitEpoch waits briefly until this node has applied the plan of epoch:
// a worker that heard the leader's announcement may ask a follower that
// has not yet.
func (c *Coordinator) waitEpoch(ctx context.Context, epoch uint64) error {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		changed := c.machine.Changed()
		if c.machine.State().GetEpoch() >= epoch {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("epoch %d not applied here yet", epoch)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// raftStatus reads Raft's state for /metrics.
func (c *Coordinator) raftStatus() api.RaftStatus {
	st := c.node.Stats()
	var rs api.RaftStatus
	switch st["state"] {
	case "Candidate":
		rs.State = 1
	case "Leader":
		rs.State = 2
	case "Shutdown":
		rs.State = 3
	}
	rs.Term, _ = strconv.ParseUint(st["term"], 10, 64)
	rs.CommitIndex, _ = strconv.ParseUint(st["commit_index"], 10, 64)
	return rs
}

func (c *Coordinator) health() error {
	if id, _ := c.node.Leader(); id == "" {
		return errors.New("no Raft leader known")
	}
	if !c.nc.IsConnected() {
		return errors.New("NATS connection down")
	}
	return nil
}

// Close stops the coordinator: HTTP, leadership, Raft, NATS.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	if c.cancel != nil {
		c.cancel()
	}
	if c.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if c.http.Shutdown(ctx) != nil {
			c.http.Close() // connections still busy: cut them
		}
		cancel()
	}
	if c.node != nil {
		c.node.Shutdown()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	if c.nats != nil {
		c.nats.Shutdown()
	}
	if c.model != nil {
		c.model.Close()
	}
	c.wg.Wait()
	return nil
}
