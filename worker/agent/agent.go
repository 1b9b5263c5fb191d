package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// Errors a worker stops or rejoins on.
var (
	// ErrKilled, as the cause of Run's context (context.WithCancelCause),
	// stops a worker without a goodbye, as a crash would: simulations use
	// it to inject faults.
	ErrKilled = errors.New("killed")
	// ErrRefused is a join the coordinator refused (a wrong join token).
	ErrRefused = errors.New("join refused")
	// ErrFenced is a worker the leader expired: it must rejoin as new.
	ErrFenced = errors.New("expired by the leader")
	// ErrLeft is a worker that said goodbye (Config.Lifecycle reports
	// LEAVING: its tab is closing) and was let go: it does not rejoin, or
	// a closing tab would come back as a member for the moment it has
	// left and be handed the stage it just gave up.
	ErrLeft = errors.New("left the cluster")
)

// Config says how a worker reaches its cluster.
type Config struct {
	// Coordinator is a coordinator's HTTP address, e.g. http://127.0.0.1:8080.
	Coordinator string
	JoinToken   string
	Name        string
	// Capabilities are reported when joining (backend, memory budget).
	Capabilities *tabshardv1.Capabilities
	Logger       *slog.Logger
	HTTP         *http.Client
	// HTTPHasGrants says HTTP already adds the grants a guarded model
	// server wants (a tab's transport, below its weight cache). Otherwise
	// Run adds them when the coordinator names a grant URL.
	HTTPHasGrants bool
	grants        *modelGrants // set by Run when it adds them
	// NATSOptions are added when connecting (e.g. an in-process dialer).
	NATSOptions []nats.Option
	// MaxSessions bounds the sessions whose KV caches a worker keeps when
	// the plan names no number (Plan.max_sessions); it never evicts one.
	MaxSessions int
	// OnEvent, when set, hears what the worker does (for tests and the CLI).
	OnEvent func(Event)
	// Load builds a stage's arithmetic; nil means CPU.
	Load Loader
	// Lifecycle, when set, is the page state periodic heartbeats report (a
	// tab: hidden, frozen); nil reports ACTIVE.
	Lifecycle func() tabshardv1.Lifecycle
	// LoadProgress, when set, is the fraction of the stage being loaded
	// that has arrived (0 to 1): heartbeats report it while a load runs,
	// and the dashboard shows it. Without it they report 0 until loaded.
	LoadProgress func() float32
	// Metrics, when set, counts what the worker refused; nil counts into a
	// private one.
	Metrics *Metrics
	// MaxHeld and MaxHeldBytes bound the inputs held for a newer epoch or
	// for weights (0: DefaultMaxHeld, DefaultMaxHeldBytes).
	MaxHeld, MaxHeldBytes int
	// Link, when set, also carries activations straight to the next
	// stage's worker over the link the plan names for that hop (a tab's
	// BroadcastChannel or WebRTC); see Link.
	Link Link
	// RoundWait is the most the first stage's primary waits, per batch,
	// for the steps of its active sessions still on their way, to run
	// them all as one batch per round (see rounds): right where the
	// stages share fewer cores (or one GPU) than there are stages, as
	// local workers and tabs of one machine do. Zero: DefaultRoundWait.
	// Negative: never wait; each group of steps runs as it comes, which
	// keeps every stage busy when each has a machine of its own.
	RoundWait time.Duration
}

// Event is something a worker did: joined, loaded, became primary, ...
type Event struct {
	WorkerID string
	Kind     string
	Epoch    uint64
	Stage    int
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 5 * time.Minute}
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 16
	}
	if c.Load == nil {
		c.Load = CPU
	}
	if c.Metrics == nil {
		c.Metrics = &Metrics{}
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.MaxHeldBytes <= 0 {
		c.MaxHeldBytes = DefaultMaxHeldBytes
	}
	if c.RoundWait == 0 {
		c.RoundWait = DefaultRoundWait
	}
	if c.Capabilities == nil {
		c.Capabilities = &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU}
	}
}

// Run joins the cluster and works until ctx ends; a worker the leader
// expired (after a partition, say) rejoins under a new id, with new
// credentials. It returns ErrRefused at once when the join token is wrong.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	info, err := fetchJoinInfo(ctx, cfg)
	if err != nil {
		return err
	}
	cfg = withModelGrants(cfg, info)
	for {
		err := runMember(ctx, cfg, info)
		if !(errors.Is(err, ErrFenced) || errors.Is(err, errBusClosed)) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if cfg.Lifecycle != nil && cfg.Lifecycle() == tabshardv1.Lifecycle_LIFECYCLE_LEAVING {
			return ErrLeft
		}
		cfg.Logger.Warn("rejoining as a new worker", "why", err)
	}
}

// errBusClosed is a NATS connection that gave up (its credentials refused,
// say, after they expired unrenewed): the worker rejoins.
var errBusClosed = errors.New("bus connection closed")

// runMember joins over the coordinator's HTTP API with a fresh user key,
// connects to NATS with the credentials the join issued, and works until
// ctx ends or the leader fences the worker.
func runMember(ctx context.Context, cfg Config, info joinInfo) error {
	key, err := bus.NewUserKey()
	if err != nil {
		return err
	}
	reply, err := join(ctx, cfg, key)
	if err != nil {
		return err
	}
	creds := bus.NewCredentials(key, reply.GetUserJwt())
	wctx, closed := context.WithCancelCause(ctx)
	defer closed(nil)
	opts := []nats.Option{nats.Name("tabshard-worker " + cfg.Name + " " + reply.GetWorkerId()), creds.Option(),
		nats.CustomInboxPrefix(reply.GetInboxPrefix()), bus.LogEvents(cfg.Logger),
		nats.ClosedHandler(func(*nats.Conn) { closed(errBusClosed) })}
	nc, err := bus.Connect(info.servers(), append(opts, cfg.NATSOptions...)...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", info.servers(), err)
	}
	defer func() {
		if errors.Is(context.Cause(ctx), ErrKilled) {
			nc.Close() // no flush: a crash loses what was unsent
			return
		}
		nc.Drain()
	}()
	rctx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	go renewEvery(rctx, cfg, reply.GetWorkerId(), creds, time.UnixMilli(reply.GetExpiresUnixMs()))
	err = runOnce(wctx, cfg, info, nc, reply)
	if ctx.Err() == nil && errors.Is(context.Cause(wctx), errBusClosed) {
		return fmt.Errorf("worker %s: %w", reply.GetWorkerId(), errBusClosed)
	}
	return err
}

// joinInfo is GET /api/join.
type joinInfo struct {
	NATSURL string `json:"nats_url"`
	// NATSURLs are every server of the NATS cluster, NATSURL first: the
	// connection fails over to another when its server goes away.
	NATSURLs []string `json:"nats_urls"`
	Cluster  string   `json:"cluster"`
	ModelURL string   `json:"model_url"`
	// ModelGrantURL is set when the model server wants grants.
	ModelGrantURL string `json:"model_grant_url"`
}

// servers is the NATS URL list nats.Connect takes: every server known,
// comma-separated.
func (i joinInfo) servers() string {
	if len(i.NATSURLs) == 0 {
		return i.NATSURL
	}
	return strings.Join(i.NATSURLs, ",")
}

func fetchJoinInfo(ctx context.Context, cfg Config) (joinInfo, error) {
	var info joinInfo
	url := strings.TrimSuffix(cfg.Coordinator, "/") + "/api/join"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return info, err
	}
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return info, fmt.Errorf("coordinator %s: %w", cfg.Coordinator, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("coordinator %s: GET /api/join: %s", cfg.Coordinator, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, fmt.Errorf("coordinator %s: /api/join: %w", cfg.Coordinator, err)
	}
	if info.NATSURL == "" || info.Cluster == "" {
		return info, fmt.Errorf("coordinator %s: /api/join gave no NATS address", cfg.Coordinator)
	}
	return info, nil
}

// member is a joined worker: its id, its view of the plan, its stage.
type member struct {
	cfg   Config
	info  joinInfo
	nc    *nats.Conn
	subj  bus.Subjects
	log   *bus.ActivationLog
	out   *bus.AsyncLog // outputs: sent first, logged behind
	id    string
	epoch uint64
	plan  *tabshardv1.Plan

	mu       sync.Mutex // guards loaded, progress, reported (read by heartbeats)
	reported uint64     // the epoch heartbeats report
	loaded   int        // stage whose weights are loaded, -1 none
	progress float32
	runner   *Runner
	loading  int // stage being loaded, -1 none

	actSub   *nats.Subscription
	actStage int
	twins    twins // link deliveries awaiting their NATS copies
	pending  held  // from newer epochs, until their announcement
	round    rounds
	clock    clock // a round's waits; nil: the real one

	primaries    []*tabshardv1.PrimaryChange // who produced each stage's outputs, by epoch
	ended        map[string]bool             // sessions the last announcement listed as ended
	joinModelURL string                      // where the coordinator joined through said the model is
	refusedURL   string                      // the last announced model URL refused, logged once
	rejected     int
}

func runOnce(ctx context.Context, cfg Config, info joinInfo, nc *nats.Conn, reply *tabshardv1.JoinReply) error {
	subj, err := bus.NewSubjects(info.Cluster)
	if err != nil {
		return err
	}
	alog, err := bus.AttachLog(ctx, nc, info.Cluster, cfg.Logger)
	if err != nil {
		return err
	}
	m := &member{cfg: cfg, info: info, nc: nc, subj: subj, log: alog, out: alog.Async(bus.AsyncOptions{Observer: cfg.Metrics, Logger: cfg.Logger}), id: reply.GetWorkerId(), loaded: -1, loading: -1, actStage: -1,
		pending: held{max: cfg.MaxHeld, maxBytes: cfg.MaxHeldBytes, metrics: cfg.Metrics, log: cfg.Logger}, round: rounds{max: cfg.RoundWait}}
	cfg.grants.joined(m.id)
	m.joinModelURL = info.ModelURL
	if sameOrigin(reply.GetModelUrl(), cfg.Coordinator) || sameOrigin(reply.GetModelUrl(), info.ModelURL) {
		m.info.ModelURL = reply.GetModelUrl()
	}
	cfg.Logger.Info("joined", "worker", m.id, "heartbeat_ms", reply.GetHeartbeatIntervalMs(), "lease_ms", reply.GetLeaseMs())
	m.event("joined", -1)
	return m.loop(ctx, time.Duration(reply.GetHeartbeatIntervalMs())*time.Millisecond)
}

func (m *member) event(kind string, stage int) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(Event{WorkerID: m.id, Kind: kind, Epoch: m.epoch, Stage: stage})
	}
}

// loaded is a finished weight load.
type loaded struct {
	stage int
	batch int // the plan's prefill batch the stage was built for
	st    Compute
	err   error
}

// loop is the worker's one goroutine of state: every message and timer
// lands here, so the runner needs no locks.
func (m *member) loop(ctx context.Context, beat time.Duration) error {
	if beat <= 0 {
		beat = 500 * time.Millisecond
	}
	epochs := make(chan *tabshardv1.EpochAnnouncement, 16)
	acts := make(chan inbound, 1024)
	linked := make(chan *tabshardv1.Activation, 1024)
	loads := make(chan loaded, 1)
	if m.cfg.Link != nil {
		m.cfg.Link.Receive(func(a *tabshardv1.Activation) {
			select {
			case linked <- a:
			default: // full: NATS carries it
			}
		})
	}
	esub, err := bus.Subscribe(m.nc, m.subj.Epoch(), func() *tabshardv1.EpochAnnouncement { return &tabshardv1.EpochAnnouncement{} },
		func(a *tabshardv1.EpochAnnouncement, _ *nats.Msg) { epochs <- a }, bus.WithLogger(m.cfg.Logger))
	if err != nil {
		return err
	}
	defer esub.Unsubscribe()
	defer m.unsubscribe()
	// Heartbeats have a goroutine of their own: a long replay or load in
	// the loop below must not cost the worker its lease.
	hbCtx, stopBeats := context.WithCancel(ctx)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		m.beat(hbCtx, beat)
	}()
	defer func() { stopBeats(); <-beats }()
	for {
		select {
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), ErrKilled) {
				m.heartbeat(tabshardv1.Lifecycle_LIFECYCLE_LEAVING)
				m.nc.Flush()
			}
			return ctx.Err()
		case ann := <-epochs:
			if err := m.onEpoch(ctx, ann, acts, loads); err != nil {
				return err
			}
		case l := <-loads:
			m.onLoaded(ctx, l)
		case in := <-acts:
			m.drainLinked(ctx, linked) // a link copy waiting is older than this twin
			got, cut := m.gatherRound(ctx, in, acts, linked, epochs)
			m.onInbound(ctx, got, in.at)
			switch { // what came while the round gathered, after the inputs before it
			case cut.ann != nil:
				if err := m.onEpoch(ctx, cut.ann, acts, loads); err != nil {
					return err
				}
			case cut.linked != nil:
				m.onLinked(ctx, cut.linked)
			}
		case a := <-linked:
			m.onLinked(ctx, a)
		}
	}
}

// onLinked runs an activation a Link delivered, expecting its NATS twin.
func (m *member) onLinked(ctx context.Context, a *tabshardv1.Activation) {
	m.twins.linked(a, time.Now())
	m.onActivation(ctx, a)
}

func (m *member) drainLinked(ctx context.Context, linked chan *tabshardv1.Activation) {
	for {
		select {
		case a := <-linked:
			m.onLinked(ctx, a)
		default:
			return
		}
	}
}

// beat sends a heartbeat every interval until ctx ends.
func (m *member) beat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	m.heartbeat(tabshardv1.Lifecycle_LIFECYCLE_ACTIVE)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.heartbeat(tabshardv1.Lifecycle_LIFECYCLE_ACTIVE)
		}
	}
}

func (m *member) heartbeat(life tabshardv1.Lifecycle) {
	if life == tabshardv1.Lifecycle_LIFECYCLE_ACTIVE && m.cfg.Lifecycle != nil {
		life = m.cfg.Lifecycle()
	}
	m.mu.Lock()
	hb := &tabshardv1.Heartbeat{WorkerId: m.id, Epoch: m.reported, LoadedStage: int32(m.loaded), LoadProgress: m.progress, Lifecycle: life}
	loading := m.loading >= 0
	m.mu.Unlock()
	if loading && m.cfg.LoadProgress != nil {
		hb.LoadProgress = min(max(m.cfg.LoadProgress(), 0), 1)
	}
	type linkMeter interface {
		LinkLatencies() []*tabshardv1.LinkLatency
	}
	if l, ok := m.cfg.Link.(linkMeter); ok {
		hb.LinkLatencies = l.LinkLatencies() // the direct links' measured latencies, for the planner
	}
	if err := bus.Publish(m.nc, m.subj.Heartbeat(m.id), hb); err != nil {
		m.cfg.Logger.Warn("heartbeat", "err", err)
	}
}

// role is the stage a worker runs (primary) or stands by for in plan.
func role(plan *tabshardv1.Plan, id string) (stage int, primary bool) {
	for _, s := range plan.GetStages() {
		if s.GetDeviceId() == id {
			return int(s.GetIndex()), true
		}
	}
	for _, s := range plan.GetStages() {
		for _, sb := range s.GetStandbyDeviceIds() {
			if sb == id {
				return int(s.GetIndex()), false
			}
		}
	}
	return -1, false
}

func (m *member) onEpoch(ctx context.Context, ann *tabshardv1.EpochAnnouncement, acts chan inbound, loads chan loaded) error {
	if ann.GetEpoch() < m.epoch {
		return nil
	}
	// The leader may expire a worker without a new epoch (no one could take
	// its stage over): it must still stop and rejoin, or it would go on
	// working, unheard, in a plan that counts it out.
	for _, id := range ann.GetExpiredWorkerIds() {
		if id == m.id {
			return fmt.Errorf("%w: worker %s in epoch %d", ErrFenced, m.id, ann.GetEpoch())
		}
	}
	if ann.GetPlan() == nil { // no plan yet: only who was expired
		return nil
	}
	m.ended = make(map[string]bool, len(ann.GetEndedSessionIds()))
	for _, id := range ann.GetEndedSessionIds() {
		m.ended[id] = true
	}
	m.free(ctx, ann.GetEndedSessionIds())
	if ann.GetEpoch() == m.epoch {
		m.retryLoad(ctx, ann, loads)
		return nil
	}
	m.epoch, m.plan, m.primaries = ann.GetEpoch(), ann.GetPlan(), ann.GetPrimaries()
	m.round.reset()
	m.useModelURL(ann.GetModelUrl())
	stage, primary := role(m.plan, m.id)
	m.cfg.Logger.Info("new epoch", "worker", m.id, "epoch", m.epoch, "stage", stage, "primary", primary)
	m.ensureLoaded(ctx, stage, loads)
	if primary {
		if err := m.subscribe(stage, acts); err != nil {
			return err
		}
		m.event("primary", stage)
	} else {
		m.unsubscribe()
		if stage >= 0 {
			m.event("standby", stage)
		}
	}
	// Tell the leader at once that this worker is in the epoch: it
	// re-issues the pending steps when every primary is, and the
	// subscription above reaches the server before this heartbeat does.
	// Periodic heartbeats report the epoch only from here on.
	m.mu.Lock()
	m.reported = m.epoch
	m.mu.Unlock()
	m.heartbeat(tabshardv1.Lifecycle_LIFECYCLE_ACTIVE)
	m.drainPending(ctx)
	return nil
}

// retryLoad starts again, with the announcing leader's model URL, a load
// of this epoch's stage that failed (say, the coordinator serving the model
// went away mid-load): announcements repeat every heartbeat interval.
func (m *member) retryLoad(ctx context.Context, ann *tabshardv1.EpochAnnouncement, loads chan loaded) {
	m.useModelURL(ann.GetModelUrl())
	if stage, _ := role(m.plan, m.id); stage >= 0 {
		m.ensureLoaded(ctx, stage, loads)
	}
}

// ensureLoaded starts loading stage's weights unless they are loaded or
// loading; stage -1 drops them.
func (m *member) ensureLoaded(ctx context.Context, stage int, loads chan loaded) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if stage == m.loaded || stage == m.loading {
		return
	}
	if stage < 0 {
		m.closeRunner()
		m.loaded = -1
		return
	}
	spec := m.plan.GetStages()[stage]
	batch := int(m.plan.GetPrefillBatch())
	m.loading, m.progress = stage, 0
	url := m.info.ModelURL // the loop goroutine owns m.info
	m.cfg.grants.atEpoch(m.epoch)
	go func() {
		st, err := m.load(ctx, url, spec, batch)
		loads <- loaded{stage: stage, batch: batch, st: st, err: err}
	}()
}

// load fetches exactly the stage's tensors over HTTP Range.
func (m *member) load(ctx context.Context, url string, spec *tabshardv1.Stage, batch int) (Compute, error) {
	m.cfg.grants.model(url)
	src, err := openRange(ctx, m.cfg.HTTP, url)
	if err != nil {
		return nil, m.cfg.explainRefusal(err)
	}
	mod, err := model.Load(src, src.size)
	if err != nil {
		return nil, fmt.Errorf("model header: %w", err)
	}
	r := worker.Range{Begin: int(spec.GetLayerBegin()), End: int(spec.GetLayerEnd()), First: spec.GetEmbedding(), Last: spec.GetOutputHead()}
	return m.cfg.Load(ctx, mod, r, batch)
}

func (m *member) onLoaded(ctx context.Context, l loaded) {
	m.mu.Lock()
	if l.stage != m.loading {
		m.mu.Unlock()
		return // superseded by a newer assignment
	}
	m.loading = -1
	if l.err != nil {
		m.mu.Unlock()
		m.cfg.Logger.Error("loading stage", "stage", l.stage, "err", l.err)
		return
	}
	m.loaded, m.progress = l.stage, 1
	m.round.reset()
	m.closeRunner()
	m.runner = &Runner{
		Stage: l.st, Index: uint32(l.stage), WorkerID: m.id, Log: m.cfg.Logger, MaxSessions: m.maxSessions(),
		Options: sequenceOptions(m.plan), Wire: planWire(m.plan),
		Out: natsOutbox{m: m, ctx: ctx}, Metrics: m.cfg.Metrics,
	}
	m.runner.MaxPositions = maxPositions(m.nc.MaxPayload(), m.runner.PositionBytes())
	m.runner.PrefillChunk = prefillChunk(l.batch)
	m.mu.Unlock()
	m.cfg.Logger.Info("stage loaded", "worker", m.id, "stage", l.stage)
	m.event("loaded", l.stage)
	m.heartbeat(tabshardv1.Lifecycle_LIFECYCLE_ACTIVE)
	m.drainPending(ctx)
}

// closeRunner frees the runner's KV caches and stage (m.mu held).
func (m *member) closeRunner() {
	if m.runner != nil {
		m.runner.Close()
		m.runner = nil
	}
}

// sequenceOptions sizes one session's state on a stage as the plan says:
// its context, its KV cache's element type (F32 where the plan predates
// the field) and sliding window. A backend that cannot store the type
// refuses each session's cache with an error naming it.
func sequenceOptions(plan *tabshardv1.Plan) worker.Options {
	o := worker.Options{Positions: int(max(plan.GetContextLength(), 1))}
	if t := plan.GetKvType(); t != tabshardv1.DType_D_TYPE_UNSPECIFIED {
		o.KV.Type = kernels.DType(t - 1)
	}
	o.KV.Window = int(plan.GetSlidingWindow())
	return o
}

// planWire is the type a stage sends hidden states as: the plan's
// activation type, F16 or F32 (also for a plan that names none).
func planWire(plan *tabshardv1.Plan) kernels.DType {
	if plan.GetActivationType() == tabshardv1.DType_D_TYPE_F16 {
		return kernels.F16
	}
	return kernels.F32
}

// inbound is an input and when its message arrived.
type inbound struct {
	a  *tabshardv1.Activation
	at time.Time
}

func (m *member) subscribe(stage int, acts chan inbound) error {
	if m.actSub != nil && m.actStage == stage {
		return nil
	}
	m.unsubscribe()
	sub, err := bus.Subscribe(m.nc, m.subj.ActivationsFor(uint32(stage)), func() *tabshardv1.Activation { return &tabshardv1.Activation{} },
		func(a *tabshardv1.Activation, msg *nats.Msg) {
			if err := bus.CheckSender(msg.Subject, a.GetProducerWorkerId()); err != nil {
				m.cfg.Metrics.RejectedActivations.Add(1)
				m.cfg.Logger.Warn("activation rejected", "worker", m.id, "err", err)
				return
			}
			acts <- inbound{a: a, at: time.Now()}
		}, bus.WithLogger(m.cfg.Logger))
	if err != nil {
		return err
	}
	m.actSub, m.actStage = sub, stage
	return nil
}

func (m *member) unsubscribe() {
	if m.actSub != nil {
		m.actSub.Unsubscribe()
		m.actSub, m.actStage = nil, -1
	}
}

// maxGather is the most inputs the worker takes off its queue at once to
// run together.
const maxGather = 1024

// gather returns in and the inputs queued behind it (up to maxGather),
// less the NATS twins of inputs a link delivered: the stage runs them as
// batches. n counts every input taken, twins included.
func (m *member) gather(in inbound, acts chan inbound, n *int) []inbound {
	var out []inbound
	now := time.Now()
	for {
		*n++
		if !m.twins.isTwin(in.a, now) {
			out = append(out, in)
		}
		if len(out) >= maxGather {
			return out
		}
		select {
		case in = <-acts:
		default:
			return out
		}
	}
}

// gatherRound gathers first and the inputs queued behind it, then, while
// the stage expects more of this round (see waitUntil), waits for them.
// An epoch announcement or a link delivery that comes meanwhile ends the
// wait: it is returned, to be handled after the inputs gathered (a link
// delivery's NATS twin must not be gathered before it is recorded).
func (m *member) gatherRound(ctx context.Context, first inbound, acts chan inbound, linked chan *tabshardv1.Activation, epochs chan *tabshardv1.EpochAnnouncement) ([]inbound, cut) {
	n := 0
	got := m.gather(first, acts, &n)
	m.mu.Lock()
	r := m.runner
	m.mu.Unlock()
	clk := m.clockOrReal()
	start, waited := clk.Now(), false
	defer func() {
		if waited {
			m.cfg.Metrics.roundWait(clk.Now().Sub(start))
		}
	}()
	for {
		now := clk.Now()
		until := m.waitUntil(r, first, got, n, now)
		if until.IsZero() || len(got) >= maxGather {
			return got, cut{}
		}
		waited = true
		fired, stop := clk.Timer(until.Sub(now))
		select {
		case <-ctx.Done():
			stop()
			return got, cut{}
		case ann := <-epochs:
			stop()
			return got, cut{ann: ann}
		case a := <-linked:
			stop()
			return got, cut{linked: a}
		case <-fired:
			return got, cut{}
		case in := <-acts:
			stop()
			got = append(got, m.gather(in, acts, &n)...)
		}
	}
}

func (m *member) clockOrReal() clock {
	if m.clock == nil {
		return realClock{}
	}
	return m.clock
}

func (m *member) now() time.Time { return m.clockOrReal().Now() }

// cut is what ended a round's gathering early.
type cut struct {
	ann    *tabshardv1.EpochAnnouncement
	linked *tabshardv1.Activation
}

// waitUntil is how long runner r's stage waits at now for more inputs,
// having gathered got (n inputs taken, twins included) since first: the
// first stage for the steps of its active sessions still on their way
// (rounds.until), a later stage for the rest of the batch its previous
// stage sent (rounds.restUntil). The zero time: run now.
func (m *member) waitUntil(r *Runner, first inbound, got []inbound, n int, now time.Time) time.Time {
	if r == nil || first.a.GetStage() != r.Index || first.a.GetEpoch() != m.epoch {
		return time.Time{}
	}
	if !r.Stage.Range().First {
		return m.round.restUntil(first.a, n, first.at, now)
	}
	gathered := make(map[string]bool, len(got))
	for _, in := range got {
		gathered[in.a.GetSessionId()] = true
	}
	return m.round.until(gathered, first.at, now)
}

// onInbound runs inputs gathered (see onActivationsArrived) and, on the
// first stage, records when each session's step ran (rounds.ran).
func (m *member) onInbound(ctx context.Context, got []inbound, arrived time.Time) {
	as := make([]*tabshardv1.Activation, len(got))
	for i, in := range got {
		as[i] = in.a
	}
	m.mu.Lock()
	r := m.runner
	m.mu.Unlock()
	if r != nil && r.Stage.Range().First {
		started := m.now()
		for _, in := range got {
			if in.a.GetStage() == r.Index && in.a.GetEpoch() == m.epoch && !m.ended[in.a.GetSessionId()] {
				m.round.ran(in.a, in.at, started)
			}
		}
	}
	m.onActivationsArrived(ctx, as, arrived)
}

// onActivation checks an input and runs it (see onActivations).
func (m *member) onActivation(ctx context.Context, a *tabshardv1.Activation) {
	m.onActivations(ctx, []*tabshardv1.Activation{a})
}

// onActivations checks inputs against the worker's epoch and plan, then
// runs them, as batches where they can be. Inputs of newer epochs wait for
// their announcement, and inputs of new sessions for room; inputs of older
// epochs, or from a worker that is not the previous stage's primary, are
// rejected.
func (m *member) onActivations(ctx context.Context, as []*tabshardv1.Activation) {
	m.onActivationsArrived(ctx, as, time.Now())
}

// onActivationsArrived is onActivations of inputs the first of which
// arrived at arrived.
func (m *member) onActivationsArrived(ctx context.Context, as []*tabshardv1.Activation, arrived time.Time) {
	m.mu.Lock()
	r := m.runner
	m.mu.Unlock()
	var run []*tabshardv1.Activation
	for _, a := range as {
		if m.runnable(a, r) {
			run = append(run, a)
		}
	}
	if len(run) == 0 {
		return
	}
	r.HandleArrived(ctx, run, m.epoch, arrived, func(a *tabshardv1.Activation, err error) {
		if errors.Is(err, ErrFull) {
			m.hold(a) // until an ended session is freed
			return
		}
		m.cfg.Logger.Error("activation rejected", "worker", m.id, "session", a.GetSessionId(), "stage", a.GetStage(), "position", a.GetFirstPosition(), "err", err)
	})
}

// runnable says whether runner r may run a now; an input that must wait
// is held (a bounded buffer), one that never may is rejected: of an older
// epoch, or from another producer than the previous stage's primary (the
// coordinator for stage 0).
func (m *member) runnable(a *tabshardv1.Activation, r *Runner) bool {
	switch {
	case a.GetEpoch() > m.epoch:
		m.hold(a)
		return false
	case a.GetEpoch() < m.epoch:
		m.reject(a, "stale epoch")
		return false
	}
	if want := m.producer(a.GetStage()); a.GetProducerWorkerId() != want && !m.lastStageToFirst(a) {
		m.reject(a, "not from the previous stage's primary "+want)
		return false
	}
	if m.ended[a.GetSessionId()] {
		return false // the last stage ran ahead of the session's end
	}
	if r == nil || int(r.Index) != int(a.GetStage()) {
		m.hold(a) // weights still loading
		return false
	}
	return true
}

// maxSessions is how many sessions' KV caches the plan has room for.
func (m *member) maxSessions() int {
	if n := m.plan.GetMaxSessions(); n > 0 {
		return int(n)
	}
	return m.cfg.MaxSessions
}

// free drops the KV caches of ended sessions and retries the inputs that
// waited for room.
func (m *member) free(ctx context.Context, ended []string) {
	m.mu.Lock()
	r := m.runner
	m.mu.Unlock()
	m.round.forget(ended)
	if r == nil || r.Free(ended) == 0 || len(m.pending.as) == 0 {
		return
	}
	m.drainPending(ctx)
}

// producer is who sends stage its inputs: the coordinator for stage 0,
// else the previous stage's primary.
func (m *member) producer(stage uint32) string {
	switch {
	case stage == 0:
		return bus.CoordinatorProducer
	case int(stage) > len(m.plan.GetStages()):
		return ""
	}
	return m.plan.GetStages()[stage-1].GetDeviceId()
}

// lastStageToFirst says whether a is the first stage's input the last
// stage's primary of the worker's epoch sent after a token it sampled.
func (m *member) lastStageToFirst(a *tabshardv1.Activation) bool {
	stages := m.plan.GetStages()
	return a.GetStage() == 0 && len(stages) > 0 && a.GetProducerWorkerId() == stages[len(stages)-1].GetDeviceId()
}

// hold keeps a until its epoch or weights arrive.
func (m *member) hold(a *tabshardv1.Activation) { m.pending.add(a) }

func (m *member) reject(a *tabshardv1.Activation, why string) {
	m.rejected++
	m.cfg.Metrics.RejectedActivations.Add(1)
	m.cfg.Logger.Warn("activation rejected", "worker", m.id, "why", why, "epoch", a.GetEpoch(), "my_epoch", m.epoch, "from", a.GetProducerWorkerId(), "session", a.GetSessionId(), "position", a.GetFirstPosition())
}

// drainPending retries inputs that waited for an epoch or for weights.
func (m *member) drainPending(ctx context.Context) {
	m.onActivations(ctx, m.pending.take())
}

// natsOutbox sends a runner's results over NATS and reads the activation
// log from JetStream.
type natsOutbox struct {
	m   *member
	ctx context.Context
}

func (o natsOutbox) SendActivation(ctx context.Context, a *tabshardv1.Activation) error {
	if l := o.m.cfg.Link; l != nil {
		if to, via, ok := directHop(o.m.plan, a.GetStage(), o.m.id); ok {
			l.SendVia(to, via, a) // first: the link is the fast path
		}
	}
	return o.m.out.Send(ctx, a)
}

// SendActivations sends a batch's outputs: over the links first, then
// over NATS, logged behind.
func (o natsOutbox) SendActivations(ctx context.Context, acts []*tabshardv1.Activation) error {
	if l := o.m.cfg.Link; l != nil {
		for _, a := range acts {
			if to, via, ok := directHop(o.m.plan, a.GetStage(), o.m.id); ok {
				l.SendVia(to, via, a)
			}
		}
	}
	return o.m.out.SendAll(ctx, acts)
}

func (o natsOutbox) SendToken(_ context.Context, t *tabshardv1.Token) error {
	return bus.Publish(o.m.nc, o.m.subj.Token(o.m.id), t)
}

// Replay reads the log, skipping inputs that their epoch's producer did
// not send: any worker may log under its own id, and only the permissions
// vouch for that id.
func (o natsOutbox) Replay(ctx context.Context, session string, stage, from, to uint32, fn func(*tabshardv1.Activation) error) error {
	primaries := o.m.primaries // the loop goroutine runs the runner: no race
	stages := uint32(len(o.m.plan.GetStages()))
	return o.m.log.Replay(ctx, session, stage, from, to, func(a *tabshardv1.Activation) error {
		if want, ok := bus.Producer(primaries, a.GetStage(), a.GetEpoch()); ok && a.GetProducerWorkerId() != want &&
			!bus.LastStageToFirst(primaries, stages, a) {
			o.m.cfg.Metrics.RejectedActivations.Add(1)
			o.m.cfg.Logger.Warn("replay skipped a logged input from another producer than its epoch's", "worker", o.m.id,
				"session", session, "stage", stage, "epoch", a.GetEpoch(), "from", a.GetProducerWorkerId(), "want", want)
			return bus.ErrSkipActivation
		}
		return fn(a)
	})
}

// useModelURL follows an announced model location if it is on an origin
// the worker trusts: the coordinator it joined through, or where that
// coordinator said the model is (its model server). Announcements come
// only from coordinators (the bus's permissions), and this keeps even a
// misconfigured or compromised announcement from pointing a worker's
// requests, and its weights, elsewhere.
func (m *member) useModelURL(u string) {
	if u == "" || u == m.info.ModelURL {
		return
	}
	if sameOrigin(u, m.cfg.Coordinator) || sameOrigin(u, m.joinModelURL) {
		m.info.ModelURL = u
		return
	}
	m.cfg.Metrics.RejectedModelURLs.Add(1)
	if u != m.refusedURL {
		m.refusedURL = u
		m.cfg.Logger.Warn("announced model location refused: not the origin this worker joined through or its model server",
			"worker", m.id, "model_url", u, "joined", m.cfg.Coordinator, "model_server", m.joinModelURL)
	}
}

// sameOrigin reports whether URLs a and b share scheme, host and port.
func sameOrigin(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil || ua.Host == "" {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}
