package wasmworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/modelauth"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker/link"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// Env is what a page gives a worker: its I/O and what it detected. Tests
// give native stand-ins.
type Env struct {
	// DialNATS opens a byte stream to the NATS WebSocket listener at url
	// (ws://…): the page's WebSocket in a tab. Required.
	DialNATS func(ctx context.Context, url string) (net.Conn, error)
	// Transport carries HTTP (fetch in a tab); nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Store caches weight ranges across page loads; nil caches nothing.
	Store Store
	// GPU is the WebGPU adapter the tab found; nil when navigator.gpu is
	// missing or gave no adapter.
	GPU *GPUInfo
	// GPUBackend makes the Loader that runs a stage on WebGPU, reading the
	// model's tensors from src; nil when this build has no WebGPU backend
	// (the tab then computes on the CPU).
	GPUBackend func(src io.ReaderAt) agent.Loader
	// GPUBandwidth is the WebGPU matvec bandwidth the tab measured (bytes/s).
	GPUBandwidth float64
	// DeviceMemory is navigator.deviceMemory in bytes (0: unknown).
	DeviceMemory uint64
	UserAgent    string
	// BrowserID names the browser profile the tab runs in: every tab of
	// one profile and origin has the same (kept in localStorage); "" for
	// none. With the links of Links' transports it goes in the
	// capabilities, from which the leader picks each hop's link.
	BrowserID string
	// Links makes the transports activations take to other workers besides
	// NATS (BroadcastChannel, WebRTC), given the cluster's name and the
	// NATS connection (for WebRTC signalling); nil: NATS only. The worker
	// offers their links when it joins, and sends each hop over the one
	// the plan names.
	Links func(cluster string, nc func() *nats.Conn) []link.Transport
	// OnStatus receives the worker page's status (at most ten times a
	// second); nil discards.
	OnStatus func(Status)
	Logger   *slog.Logger
	// Retry is the wait before rejoining after an error (0: 2s).
	Retry time.Duration
}

// Worker is one tab's worker.
type Worker struct {
	params    Params
	env       Env
	log       *slog.Logger
	life      Lifecycle
	status    *tracker
	transport *CachingTransport
	grants    *modelauth.ClientTransport // grants for a model server of another origin
	mux       *link.Mux                  // nil without Env.Links
	source    *rangeSource               // the model file, for the WebGPU backend

	mu    sync.Mutex // guards the fields below, read by page event handlers
	nc    *nats.Conn
	subj  bus.Subjects
	id    string
	epoch uint64
	stage int
}

// New makes a worker for the page's params.
func New(p Params, env Env) *Worker {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Transport == nil {
		env.Transport = http.DefaultTransport
	}
	if env.Retry <= 0 {
		env.Retry = 2 * time.Second
	}
	name := p.Name
	if name == "" {
		name = "tab"
	}
	w := &Worker{params: p, env: env, log: env.Logger, stage: -1, status: newTracker(name, env.OnStatus)}
	w.grants = &modelauth.ClientTransport{Next: env.Transport, Worker: w.workerID}
	w.transport = &CachingTransport{Next: w.grants, Store: env.Store}
	w.source = &rangeSource{client: &http.Client{Transport: w.transport, Timeout: 10 * time.Minute}}
	return w
}

func (w *Worker) conn() *nats.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nc
}

func (w *Worker) workerID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// Status is the worker's current status.
func (w *Worker) Status() Status { return w.status.Get() }

// joinInfo is the part of GET /api/join a tab needs.
type joinInfo struct {
	NATSURL   string `json:"nats_url"`
	NATSWSURL string `json:"nats_ws_url"`
	// NATSURLs and NATSWSURLs are every server's TCP and WebSocket URLs,
	// NATSURL and NATSWSURL first.
	NATSURLs   []string `json:"nats_urls"`
	NATSWSURLs []string `json:"nats_ws_urls"`
	Cluster    string   `json:"cluster"`
	ModelURL   string   `json:"model_url"`
	// ModelGrantURL is set when the model server wants grants.
	ModelGrantURL string `json:"model_grant_url"`
}

// Run works until ctx ends or the coordinator refuses the join token;
// other errors are shown and retried after Env.Retry.
func (w *Worker) Run(ctx context.Context) error {
	w.fail(nil)
	backend, loader, note, err := w.chooseBackend()
	if err != nil {
		w.fail(err)
		w.status.flushNow()
		return err
	}
	caps := w.capabilities(backend)
	w.status.update(func(s *Status) {
		s.Backend, s.BackendNote, s.Adapter = backendName(backend), note, w.env.GPU.Name()
		s.MemoryBudget, s.Bandwidth = caps.GetMemoryBudgetBytes(), caps.GetMatvecBandwidthBytesPerSecond()
	})
	stop := w.refreshEvery(ctx, 500*time.Millisecond)
	defer stop()
	for {
		err := w.runOnce(ctx, caps, loader)
		switch {
		case ctx.Err() != nil:
			w.status.update(func(s *Status) { s.Phase = PhaseLeft })
			w.status.flushNow()
			return nil
		case errors.Is(err, agent.ErrRefused):
			w.status.update(func(s *Status) { s.Phase, s.Error = PhaseRefused, err.Error() })
			w.status.flushNow()
			return err
		case errors.Is(err, agent.ErrLeft):
			// A goodbye is final; a page the browser restores from its
			// back-forward cache (pageshow) joins again as a new member.
			if err := w.waitWhileLeaving(ctx); err != nil {
				return nil
			}
			continue
		}
		w.fail(err)
		w.log.Warn("worker stopped; retrying", "err", err, "in", w.env.Retry)
		select {
		case <-time.After(w.env.Retry):
		case <-ctx.Done():
			return nil
		}
	}
}

// waitWhileLeaving shows the tab as left until the page is shown again or
// ctx ends (ctx's error).
func (w *Worker) waitWhileLeaving(ctx context.Context) error {
	w.status.update(func(s *Status) { s.Phase, s.Error = PhaseLeft, "" })
	w.status.flushNow()
	for w.life.Current() == tabshardv1.Lifecycle_LIFECYCLE_LEAVING {
		select {
		case <-time.After(w.env.Retry):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.fail(nil)
	return nil
}

func (w *Worker) fail(err error) {
	w.status.update(func(s *Status) {
		if err == nil {
			s.Phase, s.Error = PhaseConnecting, ""
			return
		}
		s.Phase, s.Error = PhaseError, err.Error()
	})
}

func backendName(b tabshardv1.Backend) string {
	if b == tabshardv1.Backend_BACKEND_WEBGPU {
		return "webgpu"
	}
	return "cpu"
}

// chooseBackend picks WebGPU when the page allows it and the tab has it,
// else the CPU, and says why in a note for the page.
func (w *Worker) chooseBackend() (tabshardv1.Backend, agent.Loader, string, error) {
	gpu, hasLoader := w.env.GPU, w.env.GPUBackend != nil
	switch {
	case w.params.Backend == BackendCPU:
		return tabshardv1.Backend_BACKEND_CPU, agent.CPU, "CPU forced by backend=cpu", nil
	case gpu != nil && hasLoader:
		return tabshardv1.Backend_BACKEND_WEBGPU, w.env.GPUBackend(w.source), "", nil
	case w.params.Backend == BackendGPU && gpu == nil:
		return 0, nil, "", errors.New("backend=webgpu, but this tab has no WebGPU (navigator.gpu is missing or gave no adapter)")
	case w.params.Backend == BackendGPU:
		return 0, nil, "", errors.New("backend=webgpu, but this worker was built without a WebGPU backend")
	case gpu == nil:
		return tabshardv1.Backend_BACKEND_CPU, agent.CPU, "no WebGPU in this tab: CPU fallback", nil
	}
	return tabshardv1.Backend_BACKEND_CPU, agent.CPU, "WebGPU adapter found, but this build has no WebGPU backend: CPU", nil
}

func (w *Worker) capabilities(backend tabshardv1.Backend) *tabshardv1.Capabilities {
	budget := w.params.MemoryBudget
	if budget == 0 {
		budget = MemoryBudget(backend, w.env.DeviceMemory)
	}
	bw := w.env.GPUBandwidth
	if backend == tabshardv1.Backend_BACKEND_CPU {
		bw = MeasureCPUBandwidth(30 * time.Millisecond)
	}
	return Capabilities(backend, w.env.GPU, budget, bw, w.env.UserAgent)
}

// runOnce joins through the coordinator once and works until the agent
// stops.
func (w *Worker) runOnce(ctx context.Context, caps *tabshardv1.Capabilities, loader agent.Loader) error {
	client := &http.Client{Transport: w.transport, Timeout: 10 * time.Minute}
	info, err := w.fetchJoinInfo(ctx, client)
	if err != nil {
		return err
	}
	subj, err := bus.NewSubjects(info.Cluster)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.subj = subj
	w.mu.Unlock()
	if w.mux == nil && w.env.Links != nil {
		w.mux = link.NewMux(w.log, w.env.Links(info.Cluster, w.conn)...)
	}
	var links []tabshardv1.Link
	if w.mux != nil {
		links = w.mux.Links()
	}
	caps = WithLinks(caps, w.env.BrowserID, links)
	w.source.setURL(info.ModelURL)
	w.grants.Configure(info.ModelURL, info.ModelGrantURL, w.params.Token)
	cfg := agent.Config{
		Coordinator: w.params.Origin, JoinToken: w.params.Token, Name: w.status.Get().Name,
		Capabilities: caps, Logger: w.log, HTTP: client, HTTPHasGrants: true, // w.grants, below the weight cache
		NATSOptions:  []nats.Option{nats.SetCustomDialer(wsDialer{ctx: ctx, urls: info.webSocketURLs(), tcp: info.tcpAddrs(), dial: w.env.DialNATS}), w.watchConn()},
		OnEvent:      w.onEvent,
		Load:         w.meteredLoader(loader),
		Lifecycle:    w.life.Current,
		LoadProgress: w.loadProgress,
	}
	if w.mux != nil {
		cfg.Link = w.mux
		probing, stop := context.WithCancel(ctx)
		defer stop()
		go probeLinks(probing, w.mux)
	}
	return agent.Run(ctx, cfg)
}

// probeEvery is how often a tab measures its direct links (a ping per
// peer it reaches: a few dozen bytes); the agent's heartbeats report them.
const probeEvery = 2 * time.Second

// probeLinks measures the tab's links until ctx ends.
func probeLinks(ctx context.Context, m *link.Mux) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Probe()
		}
	}
}

func (w *Worker) fetchJoinInfo(ctx context.Context, client *http.Client) (joinInfo, error) {
	var info joinInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.params.Origin+"/api/join", nil)
	if err != nil {
		return info, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return info, fmt.Errorf("coordinator %s: %w", w.params.Origin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("coordinator %s: GET /api/join: %s", w.params.Origin, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, fmt.Errorf("coordinator %s: /api/join: %w", w.params.Origin, err)
	}
	switch {
	case info.NATSWSURL == "":
		return info, fmt.Errorf("coordinator %s has no NATS WebSocket listener for tabs (start it with --nats-ws-port)", w.params.Origin)
	case info.NATSURL == "":
		return info, fmt.Errorf("coordinator %s has no NATS address", w.params.Origin)
	}
	return info, nil
}

// wsDialer gives nats.go the page's WebSocket whatever address it dials:
// nats.go speaks its protocol over it as over TCP. It tries every server's
// WebSocket in turn, its coordinator's first, so that a tab whose
// coordinator went away reconnects to another of the NATS cluster.
type wsDialer struct {
	ctx  context.Context
	urls []string
	// tcp are the TCP addresses nats.go starts with (the agent connects to
	// the join info's nats_urls); any other address it dials is a
	// WebSocket listener the servers told it of, which is tried first.
	tcp  []string
	dial func(ctx context.Context, url string) (net.Conn, error)
}

func (d wsDialer) Dial(_, address string) (net.Conn, error) {
	var errs []error
	for _, u := range d.candidates(address) {
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		conn, err := d.dial(ctx, u)
		cancel()
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// candidates are the WebSocket URLs to try for nats.go's address: a
// WebSocket listener the servers gossiped (a server that joined the
// cluster after this tab read /api/join) first, then the join info's.
func (d wsDialer) candidates(address string) []string {
	gossiped := "ws://" + address
	if address == "" || slices.Contains(d.tcp, address) || slices.Contains(d.urls, gossiped) {
		return d.urls
	}
	return append([]string{gossiped}, d.urls...)
}

// tcpAddrs are the host:port of the join info's TCP URLs.
func (i joinInfo) tcpAddrs() []string {
	var out []string
	for _, raw := range append([]string{i.NATSURL}, i.NATSURLs...) {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// webSocketURLs are the NATS cluster's WebSocket URLs, NATSWSURL first.
func (i joinInfo) webSocketURLs() []string {
	if len(i.NATSWSURLs) == 0 {
		return []string{i.NATSWSURL}
	}
	return i.NATSWSURLs
}

// watchConn keeps the NATS connection (for the page events' immediate
// heartbeats) and shows its state.
func (w *Worker) watchConn() nats.Option {
	return func(o *nats.Options) error {
		connected, disconnected, reconnected, closed := o.ConnectedCB, o.DisconnectedErrCB, o.ReconnectedCB, o.ClosedCB
		set := func(nc *nats.Conn, state string) {
			w.mu.Lock()
			w.nc = nc
			w.mu.Unlock()
			w.status.update(func(s *Status) { s.NATS = state })
		}
		o.ConnectedCB = func(nc *nats.Conn) {
			set(nc, "connected")
			if connected != nil {
				connected(nc)
			}
		}
		o.ReconnectedCB = func(nc *nats.Conn) {
			set(nc, "connected")
			if reconnected != nil {
				reconnected(nc)
			}
		}
		o.DisconnectedErrCB = func(nc *nats.Conn, err error) {
			set(nc, "disconnected")
			if disconnected != nil {
				disconnected(nc, err)
			}
		}
		o.ClosedCB = func(nc *nats.Conn) {
			set(nil, "closed")
			if closed != nil {
				closed(nc)
			}
		}
		return nil
	}
}

// onEvent follows the agent: admitted, assigned, loaded.
func (w *Worker) onEvent(e agent.Event) {
	if e.Kind == "joined" && w.mux != nil {
		w.mux.SetSelf(e.WorkerID)
	}
	w.mu.Lock()
	w.id, w.epoch = e.WorkerID, max(w.epoch, e.Epoch)
	if e.Kind == "primary" || e.Kind == "standby" || e.Kind == "loaded" {
		w.stage = e.Stage
	}
	w.mu.Unlock()
	w.status.update(func(s *Status) {
		s.WorkerID, s.Epoch = e.WorkerID, max(s.Epoch, e.Epoch)
		switch e.Kind {
		case "joined":
			s.Phase, s.Error, s.Role, s.Stage = PhaseJoined, "", "idle", -1
		case "primary", "standby":
			s.Role, s.Stage = e.Kind, e.Stage
		case "loaded":
			s.Phase, s.Stage = PhaseReady, e.Stage
		}
	})
}

// meteredLoader wraps a Loader so that the page sees the bytes of the
// stage arrive and the steps it runs.
func (w *Worker) meteredLoader(load agent.Loader) agent.Loader {
	return func(ctx context.Context, m *model.Model, r worker.Range, batch int) (agent.Compute, error) {
		fetched, cached := w.transport.Bytes()
		base := fetched + cached
		w.status.update(func(s *Status) {
			s.Phase, s.Layers, s.StageBytes, s.LoadedBytes, s.CachedBytes = PhaseLoading, describeRange(r), StageBytes(m, r), 0, 0
		})
		loadStart, cachedStart := base, cached
		stop := w.progressEvery(ctx, 100*time.Millisecond, loadStart, cachedStart)
		restore := collectOftenWhileLoading()
		began := w.status.now()
		c, err := load(ctx, m, r, batch)
		took := w.status.now().Sub(began)
		restore()
		stop()
		if err != nil {
			return nil, err
		}
		w.status.update(func(s *Status) { s.LoadSeconds = took.Seconds() })
		return meteredCompute{Compute: c, t: w.status}, nil
	}
}

// loadingGCPercent is the GC's target while a stage streams in: its
// garbage is a few MiB of weight bytes per piece, which hold no pointers,
// so collecting often costs little, and the wasm memory (which never
// shrinks) stays near the pieces in flight instead of twice that.
const loadingGCPercent = 20

// collectOftenWhileLoading sets loadingGCPercent until the returned func
// is called.
func collectOftenWhileLoading() (restore func()) {
	old := debug.SetGCPercent(loadingGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// loadProgress is the fraction of the stage being loaded that arrived.
func (w *Worker) loadProgress() float32 {
	s := w.status.Get()
	if s.Phase != PhaseLoading || s.StageBytes <= 0 {
		return 0
	}
	return min(1, float32(s.LoadedBytes)/float32(s.StageBytes))
}

// progressEvery shows the bytes loaded since base every d until stopped.
func (w *Worker) progressEvery(ctx context.Context, d time.Duration, base, cachedBase int64) func() {
	show := func() {
		fetched, cached := w.transport.Bytes()
		w.status.update(func(s *Status) {
			s.LoadedBytes, s.CachedBytes = fetched+cached-base, cached-cachedBase
		})
	}
	return every(ctx, d, show)
}

// refreshEvery redraws memory and tokens/s every d until stopped.
func (w *Worker) refreshEvery(ctx context.Context, d time.Duration) func() {
	return every(ctx, d, func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		now := w.status.now()
		links := w.linkStatus()
		w.status.update(func(s *Status) {
			s.Links = links
			s.WasmMemory = ms.Sys
			s.Lifecycle = lifecycleName(w.life.Current())
			s.TokensPerSecond = w.status.rate(now)
		})
	})
}

// every runs fn every d, and once more when stopped.
func every(ctx context.Context, d time.Duration, fn func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
		fn()
	}
}

// linkStatus lists the worker's links for the page.
func (w *Worker) linkStatus() []LinkStatus {
	if w.mux == nil {
		return nil
	}
	var out []LinkStatus
	for _, st := range w.mux.Stats() {
		out = append(out, LinkStatus{Peer: st.Peer, Kind: st.Kind, State: st.State, Sent: st.Sent, Recv: st.Recv, Refused: st.Refused})
	}
	return out
}

// describeRange says which part of the model a stage holds.
func describeRange(r worker.Range) string {
	parts := []string{fmt.Sprintf("blocks %d-%d", r.Begin, r.End-1)}
	switch {
	case r.End <= r.Begin:
		parts[0] = "no blocks"
	case r.End == r.Begin+1:
		parts[0] = fmt.Sprintf("block %d", r.Begin)
	}
	if r.First {
		parts = append(parts, "embedding")
	}
	if r.Last {
		parts = append(parts, "output head")
	}
	return strings.Join(parts, " + ")
}

// StageBytes is the size of the tensors a stage of range r reads.
func StageBytes(m *model.Model, r worker.Range) int64 {
	var n int64
	for _, t := range modelauth.StageTensors(m.File, r) {
		n += t.Size
	}
	return n
}

// meteredCompute counts a stage's steps for the page. The runner finds
// the wrapped stage's other abilities (agent.Greedy, a Close method)
// through Unwrap; the ones that run steps it meters too, and the runner
// calls them only where the wrapped stage has them (agent.As).
type meteredCompute struct {
	agent.Compute
	t *tracker
}

var (
	_ agent.Unwrapper    = meteredCompute{}
	_ agent.Batcher      = meteredCompute{}
	_ agent.EmbedForward = meteredCompute{}
)

func (c meteredCompute) Unwrap() agent.Compute { return c.Compute }

func (c meteredCompute) Forward(kv agent.KV, x []float32, pos, n int) error {
	start := time.Now()
	err := c.Compute.Forward(kv, x, pos, n)
	c.t.step(n, time.Since(start))
	return err
}

func (c meteredCompute) ForwardBatch(steps []agent.Step, x []float32) error {
	b, ok := agent.As[agent.Batcher](c.Compute)
	if !ok {
		return fmt.Errorf("%w: the stage runs no batches", errors.ErrUnsupported)
	}
	start := time.Now()
	err := b.ForwardBatch(steps, x)
	took := time.Since(start)
	for _, s := range steps {
		c.t.step(s.N, took) // each session's step: a decoding one is one position
	}
	return err
}

func (c meteredCompute) EmbedForward(kv agent.KV, x []float32, tokens []int, pos int) error {
	ef, ok := agent.As[agent.EmbedForward](c.Compute)
	if !ok {
		return fmt.Errorf("%w: the stage looks up no tokens in its pass", errors.ErrUnsupported)
	}
	start := time.Now()
	err := ef.EmbedForward(kv, x, tokens, pos)
	c.t.step(len(tokens), time.Since(start))
	return err
}

// PageEvent records a page lifecycle event (see the Event constants). A
// tab about to be frozen or to go away tells the coordinator at once,
// before returning, so that its work moves before its lease runs out:
// page event handlers may not get another chance to run.
func (w *Worker) PageEvent(name string) {
	life, changed := w.life.Event(name)
	w.status.update(func(s *Status) {
		s.Lifecycle = lifecycleName(life)
		if life == tabshardv1.Lifecycle_LIFECYCLE_LEAVING {
			s.Phase = PhaseLeft
		}
	})
	w.status.flushNow()
	if changed && (life == tabshardv1.Lifecycle_LIFECYCLE_FROZEN || life == tabshardv1.Lifecycle_LIFECYCLE_LEAVING) {
		w.heartbeatNow(life)
	}
}

// heartbeatNow publishes a heartbeat and pushes it onto the socket
// without waiting for the event loop (a page event handler blocks it):
// NATS' flusher goroutine writes it, and WebSocket.send is synchronous.
func (w *Worker) heartbeatNow(life tabshardv1.Lifecycle) {
	w.mu.Lock()
	nc, id, subj := w.nc, w.id, w.subj
	hb := &tabshardv1.Heartbeat{WorkerId: w.id, Epoch: w.epoch, LoadedStage: int32(w.stage), Lifecycle: life}
	w.mu.Unlock()
	if nc == nil || id == "" {
		return
	}
	if err := bus.Publish(nc, subj.Heartbeat(id), hb); err != nil {
		w.log.Warn("lifecycle heartbeat", "err", err)
		return
	}
	for i := 0; i < 1000; i++ {
		if n, err := nc.Buffered(); err != nil || n == 0 {
			return
		}
		runtime.Gosched()
	}
}
