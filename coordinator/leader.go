package coordinator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// replicator is the consensus node as the leader uses it.
type replicator interface {
	Apply(ctx context.Context, cmd *tabshardv1.Command) error
	IsLeader() bool
	AddVoter(ctx context.Context, id, address string) error
}

// activationSender publishes (and logs) stage inputs, and purges a
// finished session's log.
type activationSender interface {
	Publish(ctx context.Context, a *tabshardv1.Activation) error
	DeleteSession(ctx context.Context, session string) error
}

// leader holds the decisions a coordinator takes while it leads. Every
// change goes through Raft first; only what committed is published.
type leader struct {
	cfg       *Config
	node      replicator
	machine   *state.Machine
	nc        *nats.Conn
	subj      bus.Subjects
	acts      activationSender
	placement state.Placement
	modelURL  string
	log       *slog.Logger
	metrics   *api.Metrics
	rate      tokenRate
	// admitted bounds the running sessions (Config.MaxSessions) and
	// queues the rest.
	admitted *slots

	propose sync.Mutex // serialises proposals that read the state to build a command

	mu       sync.Mutex
	seen     map[string]time.Time // worker → last heartbeat
	progress map[string]time.Time // session → last progress
	reports  map[string]report    // worker → what its last heartbeat said
	// heartbeats wakes the leader's loop to check reissueWhenReady.
	heartbeats chan struct{}
	// reissued is the last epoch whose pending steps were re-issued once
	// all its primaries were ready.
	reissued uint64
	// text decodes generated tokens for the sessions' stop strings.
	text textDecoder
	// noPlan is why the last attempt made no plan ("" if it made one or
	// needed none): logged when it changes.
	noPlan string
	// waiting is what the first plan waits for, logged when it changes.
	waiting string

	// finished are the finished sessions this leader has seen, and
	// whether their activation log is purged; only the leader's loop
	// (tick) uses it.
	finished map[string]bool

	// ahead are the sessions whose tokens came past their next position
	// in this epoch (the pipeline ran past tokens this leader never got),
	// and stalls how many step timeouts in a row each went without a
	// commit: what decides whether a stalled step needs a new epoch.
	ahead  map[string]bool
	stalls map[string]int
}

func newLeader(cfg *Config, node replicator, machine *state.Machine, nc *nats.Conn, subj bus.Subjects, acts activationSender, p state.Placement, modelURL string, m *api.Metrics) *leader {
	return &leader{cfg: cfg, node: node, machine: machine, nc: nc, subj: subj, acts: acts, placement: p, modelURL: modelURL,
		log: cfg.Logger, metrics: m, admitted: newSlots(cfg.MaxSessions, cfg.MaxQueued), seen: map[string]time.Time{}, progress: map[string]time.Time{},
		reports: map[string]report{}, heartbeats: make(chan struct{}, 1), finished: map[string]bool{}, ahead: map[string]bool{}, stalls: map[string]int{}}
}

// reject counts and logs a rejected message.
func (l *leader) reject(reason string) { l.metrics.RejectedMessages.WithLabelValues(reason).Inc() }

// tokenRate is an exponentially weighted tokens/s.
type tokenRate struct {
	mu   sync.Mutex
	last time.Time
	rate float64
}

func (r *tokenRate) observe(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() {
		if dt := now.Sub(r.last).Seconds(); dt > 0 {
			r.rate = 0.9*r.rate + 0.1/dt
		}
	}
	r.last = now
	return r.rate
}

func (l *leader) now() time.Time { return l.cfg.Clock.Now() }

// apply proposes cmd, stamped with the leader's time.
func (l *leader) apply(ctx context.Context, cmd *tabshardv1.Command) error {
	cmd.UnixMs = l.now().UnixMilli()
	start := time.Now()
	err := l.node.Apply(ctx, cmd)
	l.metrics.RaftApply.WithLabelValues(commandName(cmd)).Observe(time.Since(start).Seconds())
	return err
}

// commandName is the name of cmd's change (e.g. "append_token").
func commandName(cmd *tabshardv1.Command) string {
	m := cmd.ProtoReflect()
	if f := m.WhichOneof(m.Descriptor().Oneofs().ByName("change")); f != nil {
		return string(f.Name())
	}
	return "none"
}

// run is the leader's loop while this coordinator leads: it subscribes to
// the joins and session starts followers forward (control subjects only
// coordinators may publish), and on every tick checks leases, plans and
// stalled steps. It returns when ctx ends (leadership lost).
func (l *leader) run(ctx context.Context) error {
	l.resetLeases()
	l.resetProgress()
	l.admitted.reset(l.activeSessions())
	jsub, err := bus.Subscribe(l.nc, l.subj.Join(), func() *tabshardv1.JoinRequest { return &tabshardv1.JoinRequest{} },
		func(req *tabshardv1.JoinRequest, msg *nats.Msg) { go l.onJoin(ctx, req, msg) }, bus.WithLogger(l.log))
	if err != nil {
		return err
	}
	defer jsub.Unsubscribe()
	ssub, err := bus.Subscribe(l.nc, l.subj.StartSession(), func() *tabshardv1.StartSession { return &tabshardv1.StartSession{} },
		func(req *tabshardv1.StartSession, msg *nats.Msg) { go l.onStartRequest(ctx, req, msg) }, bus.WithLogger(l.log))
	if err != nil {
		return err
	}
	defer ssub.Unsubscribe()
	csub, err := bus.Subscribe(l.nc, l.subj.CancelSession(), func() *tabshardv1.CancelSession { return &tabshardv1.CancelSession{} },
		func(req *tabshardv1.CancelSession, msg *nats.Msg) { go l.onCancelRequest(ctx, req, msg) }, bus.WithLogger(l.log))
	if err != nil {
		return err
	}
	defer csub.Unsubscribe()
	asub, err := bus.Subscribe(l.nc, l.subj.AddCoordinator(), func() *tabshardv1.AddCoordinatorRequest { return &tabshardv1.AddCoordinatorRequest{} },
		func(req *tabshardv1.AddCoordinatorRequest, msg *nats.Msg) {
			go func() {
				if err := bus.Respond(l.nc, msg, l.addCoordinator(ctx, req)); err != nil {
					l.log.Warn("add coordinator reply", "err", err)
				}
			}()
		}, bus.WithLogger(l.log))
	if err != nil {
		return err
	}
	defer asub.Unsubscribe()
	l.tick(ctx)
	if l.direct() && l.anyGenerated() {
		// The pipeline may have run ahead of what committed, the tokens
		// past it lost with the old leader: a new epoch makes the stages
		// drop that run and take the committed step (reissueWhenReady).
		// Sessions still in their prompt cannot have run ahead.
		l.newEpochForReissue(ctx, "a new leader")
	} else {
		l.reissueAll(ctx)
	}
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.tick(ctx)
		case <-l.heartbeats:
			l.reissueWhenReady(ctx)
		}
	}
}

// resetLeases gives every active member a fresh lease: a new leader has no
// heartbeat history.
func (l *leader) resetLeases() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range state.Active(l.machine.State()) {
		l.seen[m.GetWorkerId()] = now
	}
}

// resetProgress starts every active session's step clock now: a new
// leader re-issues every pending step once (reissueAll), and its first
// tick must not take them for stalled and issue them again.
func (l *leader) resetProgress() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		for _, s := range st.GetSessions() {
			if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE {
				l.progress[s.GetId()] = now
			}
		}
	})
}

// tick checks leases, plans, stalled steps, and re-announces the epoch.
func (l *leader) tick(ctx context.Context) {
	if !l.node.IsLeader() {
		return
	}
	l.expireSilent(ctx)
	if err := l.replan(ctx); ctx.Err() == nil {
		l.logNoPlan(err)
	}
	if w := l.placement.WaitingFor(l.machine.State()); w != l.waiting {
		if w != "" {
			l.log.Info("the first plan waits", "for", w)
		}
		l.waiting = w
	}
	l.announce()
	l.reissueStalled(ctx)
	l.purgeFinished(ctx)
	l.metrics.SessionsActive.Set(float64(l.activeSessions()))
	_, queued := l.admitted.counts()
	l.metrics.SessionsQueued.Set(float64(queued))
}

// activeSessions counts the sessions generating.
func (l *leader) activeSessions() int {
	active := 0
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		for _, s := range st.GetSessions() {
			if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE {
				active++
			}
		}
	})
	return active
}

// heard records a heartbeat; every coordinator keeps these, so a new leader
// starts from fresh leases anyway.
func (l *leader) heard(ctx context.Context, hb *tabshardv1.Heartbeat) {
	// Every coordinator hears every heartbeat: keep this cheap (no copy of
	// the state, no Raft, no JetStream), or late processing eats leases.
	active := false
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		m := state.Member(st, hb.GetWorkerId())
		active = m != nil && m.GetState() == tabshardv1.MemberState_MEMBER_STATE_ACTIVE
	})
	if !active {
		l.reject("heartbeat from unknown or expired worker")
		return
	}
	l.mu.Lock()
	l.seen[hb.GetWorkerId()] = l.now()
	l.reports[hb.GetWorkerId()] = report{epoch: hb.GetEpoch(), loaded: hb.GetLoadedStage()}
	l.mu.Unlock()
	// A tab that leaves, or that the browser froze (it runs nothing until
	// thawed), gives its stage to its standby now rather than a lease
	// later; a thawed tab learns it was let go and rejoins.
	if life := hb.GetLifecycle(); (life == tabshardv1.Lifecycle_LIFECYCLE_LEAVING || life == tabshardv1.Lifecycle_LIFECYCLE_FROZEN) && l.node.IsLeader() {
		reason := "left"
		if life == tabshardv1.Lifecycle_LIFECYCLE_FROZEN {
			reason = "frozen by the browser"
		}
		l.expire(ctx, hb.GetWorkerId(), tabshardv1.MemberState_MEMBER_STATE_LEFT, reason)
		l.replanAndAnnounce(ctx)
		return
	}
	select {
	case l.heartbeats <- struct{}{}: // the leader's loop checks readiness
	default:
	}
}

// report is what a worker's last heartbeat said: the newest epoch it has
// seen and the stage it has loaded.
type report struct {
	epoch  uint64
	loaded int32
}

// reissueWhenReady re-issues every session's pending step once each
// primary of the current epoch has reported that epoch with its stage
// loaded. A worker subscribes to its stage's inputs before it heartbeats
// the epoch, on the same connection, so from then on no input sent to it
// is lost; a step issued at the commit itself could reach a promoted
// standby before it subscribed, and wait for the step timeout. Steps in
// flight when the epoch changed are dropped as stale by workers of the new
// epoch, so this re-issue is also what moves them on.
func (l *leader) reissueWhenReady(ctx context.Context) {
	var epoch uint64
	var primaries []report // the stage each primary must have loaded, by worker
	var ids []string
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		epoch = st.GetEpoch()
		for _, s := range st.GetPlan().GetStages() {
			ids = append(ids, s.GetDeviceId())
			primaries = append(primaries, report{epoch: epoch, loaded: int32(s.GetIndex())})
		}
	})
	l.mu.Lock()
	if len(ids) == 0 || l.reissued >= epoch {
		l.mu.Unlock()
		return
	}
	for i, id := range ids {
		r, ok := l.reports[id]
		if !ok || r.epoch < epoch || r.loaded != primaries[i].loaded {
			l.mu.Unlock()
			return
		}
	}
	l.reissued = epoch
	l.mu.Unlock()
	l.log.Debug("every primary is ready; re-issuing pending steps", "epoch", epoch)
	l.reissueAll(ctx)
}

func (l *leader) expireSilent(ctx context.Context) {
	now := l.now()
	for _, m := range state.Active(l.machine.State()) {
		l.mu.Lock()
		last, ok := l.seen[m.GetWorkerId()]
		if !ok {
			l.seen[m.GetWorkerId()], last = now, now
		}
		l.mu.Unlock()
		if now.Sub(last) > l.cfg.Lease {
			l.expire(ctx, m.GetWorkerId(), tabshardv1.MemberState_MEMBER_STATE_EXPIRED, fmt.Sprintf("no heartbeat for %v", now.Sub(last).Round(time.Millisecond)))
		}
	}
}

func (l *leader) expire(ctx context.Context, id string, to tabshardv1.MemberState, reason string) {
	err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_Expire{Expire: &tabshardv1.ExpireWorker{WorkerId: id, State: to, Reason: reason}}})
	if err != nil && !errors.Is(err, state.ErrDuplicate) {
		l.log.Warn("expire", "worker", id, "err", err)
		return
	}
	l.log.Info("worker expired", "worker", id, "state", to, "reason", reason)
}

func (l *leader) replanAndAnnounce(ctx context.Context) {
	l.logNoPlan(l.replan(ctx))
	l.announce()
}

// logNoPlan logs why no plan could be made once per distinct reason (the
// leader retries every tick; the same reason 5 times a second is noise),
// and once when a plan is made again.
func (l *leader) logNoPlan(err error) {
	why := ""
	if err != nil {
		why = err.Error()
	}
	l.mu.Lock()
	was := l.noPlan
	l.noPlan = why
	l.mu.Unlock()
	switch {
	case why == was:
	case why == "":
		l.log.Info("a plan can be made again", "was", was)
	default:
		l.log.Warn("no plan", "err", err)
	}
}

// replan commits the plan placement decides, if any, and announces it; the
// pending steps are re-issued in the new epoch once its primaries are
// ready (reissueWhenReady).
func (l *leader) replan(ctx context.Context) error {
	l.propose.Lock()
	defer l.propose.Unlock()
	c, err := l.placement.Decide(l.machine.State(), l.now().UnixMilli())
	if err != nil || c == nil {
		return err
	}
	if err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_CommitPlan{CommitPlan: c}}); err != nil {
		return err
	}
	st := l.machine.State()
	l.metrics.Failovers.Add(float64(len(c.GetFailovers())))
	for _, f := range c.GetFailovers() {
		l.log.Info("failover", "epoch", st.GetEpoch(), "stage", f.GetStage(), "from", f.GetFromWorkerId(), "to", f.GetToWorkerId(), "reason", f.GetReason())
	}
	l.log.Info("plan committed", "epoch", st.GetEpoch(), "stages", len(st.GetPlan().GetStages()))
	l.announce()
	return nil
}

// announce publishes the committed plan to the workers, with the workers
// expired and the sessions ended (whose KV caches workers free).
func (l *leader) announce() {
	if !l.node.IsLeader() {
		return
	}
	var ann *tabshardv1.EpochAnnouncement
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		ann = &tabshardv1.EpochAnnouncement{Epoch: st.GetEpoch(), ModelUrl: l.modelURL}
		for _, p := range st.GetPrimaries() {
			ann.Primaries = append(ann.Primaries, proto.Clone(p).(*tabshardv1.PrimaryChange))
		}
		if st.GetPlan() != nil {
			ann.Plan = proto.Clone(st.GetPlan()).(*tabshardv1.Plan)
		}
		for _, m := range st.GetMembers() {
			if m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
				ann.ExpiredWorkerIds = append(ann.ExpiredWorkerIds, m.GetWorkerId())
			}
		}
		for _, s := range st.GetSessions() {
			if s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE {
				ann.EndedSessionIds = append(ann.EndedSessionIds, s.GetId())
			}
		}
	})
	// Before the first plan there is nothing to announce but who was
	// expired: a worker expired while the cluster waited (a busy tab) must
	// learn it and rejoin, or the first plan would wait for it forever.
	if ann.Plan == nil && len(ann.ExpiredWorkerIds) == 0 {
		return
	}
	if err := bus.Publish(l.nc, l.subj.Epoch(), ann); err != nil {
		l.log.Warn("announce", "err", err)
	}
}

func (l *leader) onJoin(ctx context.Context, req *tabshardv1.JoinRequest, msg *nats.Msg) {
	reply := l.admit(ctx, req)
	if err := bus.Respond(l.nc, msg, reply); err != nil {
		l.log.Warn("join reply", "err", err)
	}
	if reply.GetError() == "" {
		l.replanAndAnnounce(ctx)
	}
}

// admit admits a worker whose join token the HTTP API checked (the
// request carries none).
func (l *leader) admit(ctx context.Context, req *tabshardv1.JoinRequest) *tabshardv1.JoinReply {
	if err := bus.ValidUserKey(req.GetUserNkey()); err != nil {
		return &tabshardv1.JoinReply{Error: err.Error()}
	}
	l.propose.Lock()
	id := state.NextWorkerID(l.machine.State())
	err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: id, Name: req.GetName(),
		Capabilities: req.GetCapabilities(), UserNkey: req.GetUserNkey()}}})
	l.propose.Unlock()
	if err != nil {
		return &tabshardv1.JoinReply{Error: "not admitted: " + err.Error()}
	}
	l.mu.Lock()
	l.seen[id] = l.now()
	l.mu.Unlock()
	l.log.Info("worker admitted", "worker", id, "name", req.GetName())
	return &tabshardv1.JoinReply{WorkerId: id, HeartbeatIntervalMs: uint32(l.cfg.Heartbeat.Milliseconds()), LeaseMs: uint32(l.cfg.Lease.Milliseconds()),
		ModelUrl: l.modelURL, Epoch: l.machine.State().GetEpoch()}
}

// startSession waits for a slot (admission), then commits a new session
// and issues its prompt.
func (l *leader) startSession(ctx context.Context, s *tabshardv1.Session) (string, error) {
	if !l.hasPlan() {
		return "", errNoPlan
	}
	queued := l.now()
	if err := l.admitted.acquire(ctx, l.cfg.QueueWait); err != nil {
		if errors.Is(err, errQueueFull) || errors.Is(err, errQueueWait) {
			l.metrics.SessionsRejected.Inc()
			return "", &overloadedError{err: err, retryAfter: l.admitted.retryAfter()}
		}
		return "", err
	}
	l.metrics.QueueWait.Observe(l.now().Sub(queued).Seconds())
	l.propose.Lock()
	st := l.machine.State()
	if st.GetPlan() == nil {
		l.propose.Unlock()
		l.admitted.release(0)
		return "", errNoPlan
	}
	s.Id = newSessionID()
	// The step clock starts before the commit: a tick between the commit
	// and the issue below must not take the session for stalled.
	l.mu.Lock()
	l.progress[s.GetId()] = l.now()
	l.mu.Unlock()
	err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{Session: s}}})
	l.propose.Unlock()
	if err != nil {
		l.mu.Lock()
		delete(l.progress, s.GetId())
		l.mu.Unlock()
		l.admitted.release(0)
		return "", err
	}
	l.issue(ctx, state.Session(l.machine.State(), s.GetId()))
	return s.GetId(), nil
}

func (l *leader) hasPlan() bool {
	has := false
	l.machine.Read(func(st *tabshardv1.ClusterState) { has = st.GetPlan() != nil })
	return has
}

var errNoPlan = errors.New("no plan yet: waiting for workers to join")

// overloadedError is a session refused for lack of room, with a hint of
// when to try again.
type overloadedError struct {
	err        error
	retryAfter time.Duration
}

func (e *overloadedError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.err, e.retryAfter)
}

func (e *overloadedError) Unwrap() error { return e.err }

// newSessionID is a random session id: 130 bits from crypto/rand in
// lower-case base32, so that an id cannot be guessed from another (a
// client still needs its resume token or API key to read a session).
func newSessionID() string { return strings.ToLower(rand.Text()) }

func (l *leader) onStartRequest(ctx context.Context, req *tabshardv1.StartSession, msg *nats.Msg) {
	id, err := l.startSession(ctx, req.GetSession())
	reply := &tabshardv1.StartSessionReply{SessionId: id}
	if err != nil {
		reply.Error = err.Error()
	}
	var over *overloadedError
	if errors.As(err, &over) {
		reply.RetryAfterMs = uint32(max(over.retryAfter.Milliseconds(), 1))
	}
	if err := bus.Respond(l.nc, msg, reply); err != nil {
		l.log.Warn("start reply", "err", err)
	}
}

// cancel ends a session whose client went away: its slot goes to the next
// queued session and the workers free its KV caches.
func (l *leader) cancel(ctx context.Context, id string) error {
	if s := l.view(id).session; s == nil || s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE {
		return nil // unknown or ended already
	}
	l.log.Info("session cancelled: its client went away", "session", id)
	l.metrics.SessionsCancelled.Inc()
	l.end(ctx, id, finishCancelled)
	return nil
}

// finishCancelled is the finish reason of a session whose client left.
const finishCancelled = "cancelled"

func (l *leader) onCancelRequest(ctx context.Context, req *tabshardv1.CancelSession, msg *nats.Msg) {
	reply := &tabshardv1.CancelSessionReply{}
	if err := l.cancel(ctx, req.GetSessionId()); err != nil {
		reply.Error = err.Error()
	}
	if err := bus.Respond(l.nc, msg, reply); err != nil {
		l.log.Warn("cancel reply", "err", err)
	}
}

// issue publishes the session's pending step: the whole prompt before the
// first token, else the last committed token.
func (l *leader) issue(ctx context.Context, s *tabshardv1.Session) {
	if s == nil || s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE {
		return
	}
	if reason := l.finish(s, nil); reason != "" {
		// Its last token committed but its end did not (the leader that
		// committed it lost its leadership first): end it, issue nothing.
		l.end(ctx, s.GetId(), reason)
		return
	}
	var epoch uint64
	var ctxLen uint32
	l.machine.Read(func(st *tabshardv1.ClusterState) { epoch, ctxLen = st.GetEpoch(), st.GetPlan().GetContextLength() })
	sm := stepSampling(s)
	if l.direct() {
		sm = directSampling(s, ctxLen)
	}
	a := &tabshardv1.Activation{SessionId: s.GetId(), Epoch: epoch, Stage: 0, Sampling: sm, ProducerWorkerId: bus.CoordinatorProducer}
	if gen := s.GetGenerated(); len(gen) == 0 {
		a.FirstPosition, a.TokenCount, a.Tokens = 0, uint32(len(s.GetPrompt())), s.GetPrompt()
	} else {
		a.FirstPosition, a.TokenCount, a.Tokens = state.NextPosition(s)-1, 1, gen[len(gen)-1:]
	}
	l.mu.Lock()
	l.progress[s.GetId()] = l.now()
	l.mu.Unlock()
	if err := l.acts.Publish(ctx, a); err != nil {
		l.log.Warn("issue step", "session", s.GetId(), "err", err)
	}
}

func (l *leader) reissueAll(ctx context.Context) {
	l.mu.Lock()
	clear(l.ahead) // every step starts again from the committed tokens
	l.mu.Unlock()
	for _, s := range l.machine.State().GetSessions() {
		if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE {
			l.metrics.StepsReissued.WithLabelValues("epoch").Inc()
			l.issue(ctx, s)
		}
	}
}

func (l *leader) reissueStalled(ctx context.Context) {
	now := l.now()
	rewind := false
	for _, s := range l.machine.State().GetSessions() {
		l.mu.Lock()
		last, ok := l.progress[s.GetId()]
		l.mu.Unlock()
		if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE && (!ok || now.Sub(last) > l.cfg.StepTimeout) {
			l.log.Info("re-issuing a stalled step", "session", s.GetId(), "position", state.NextPosition(s))
			l.metrics.StepsReissued.WithLabelValues("stalled").Inc()
			if l.direct() && l.ranAhead(s) {
				rewind = true
				l.mu.Lock()
				l.progress[s.GetId()] = now // one new epoch per step timeout
				l.mu.Unlock()
				continue
			}
			l.issue(ctx, s)
		}
	}
	if rewind {
		l.newEpochForReissue(ctx, "a stalled step the pipeline ran past")
	}
}

// view is what the leader reads of the state to move one session on,
// copied without the rest of the state (a token's commit must not cost a
// copy of every session).
type view struct {
	epoch   uint64
	last    string              // the last stage's primary
	session *tabshardv1.Session // a copy; nil when unknown
}

func (l *leader) view(id string) view {
	var v view
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		v.epoch = st.GetEpoch()
		if stages := st.GetPlan().GetStages(); len(stages) > 0 {
			v.last = stages[len(stages)-1].GetDeviceId()
		}
		if s := state.Session(st, id); s != nil {
			v.session = proto.Clone(s).(*tabshardv1.Session)
		}
	})
	return v
}

// onToken commits a token from the last stage's primary of the current
// epoch and moves its session on. Anything else is rejected.
func (l *leader) onToken(ctx context.Context, t *tabshardv1.Token) {
	if !l.node.IsLeader() {
		return
	}
	received := time.Now() // wall time, for the metrics only
	v := l.view(t.GetSessionId())
	switch {
	case t.GetEpoch() != v.epoch:
		l.rejectToken(t, "stale epoch")
		return
	case v.last == "" || t.GetProducerWorkerId() != v.last:
		l.rejectToken(t, "not from the last stage's primary")
		return
	}
	s := v.session
	if s == nil || s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE || t.GetPosition() != state.NextPosition(s) {
		l.reject("duplicate or out-of-order token")
		return
	}
	if reason := l.finish(s, t); reason == "stop" {
		l.end(ctx, s.GetId(), reason)
		return
	}
	err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_AppendToken{AppendToken: &tabshardv1.AppendToken{
		SessionId: t.GetSessionId(), Position: t.GetPosition(), Token: t.GetId(), RngState: t.GetRngState(), Logprobs: sessionLogprobs(s, t)}}})
	if err != nil {
		l.log.Debug("token not committed", "session", t.GetSessionId(), "position", t.GetPosition(), "err", err)
		return
	}
	l.metrics.TokenIssue.WithLabelValues("commit").Observe(time.Since(received).Seconds())
	defer func() { l.metrics.TokenIssue.WithLabelValues("issue").Observe(time.Since(received).Seconds()) }()
	l.metrics.Tokens.Inc()
	l.metrics.TokensPerSecond.Set(l.rate.observe(l.now()))
	l.mu.Lock()
	issued := l.progress[t.GetSessionId()]
	l.mu.Unlock()
	l.observeStep(t, issued)
	s = l.view(t.GetSessionId()).session
	if reason := l.finish(s, nil); reason != "" {
		l.end(ctx, s.GetId(), reason)
		return
	}
	l.issue(ctx, s)
}

func (l *leader) rejectToken(t *tabshardv1.Token, why string) {
	l.reject(why)
	l.log.Warn("token rejected", "why", why, "from", t.GetProducerWorkerId(), "epoch", t.GetEpoch(), "session", t.GetSessionId(), "position", t.GetPosition())
}

// finish says whether the session ends: "stop" when t is a stop token,
// "length" when it reached max_tokens or the context, "" otherwise.
func (l *leader) finish(s *tabshardv1.Session, t *tabshardv1.Token) string {
	if t != nil {
		if slices.Contains(s.GetStopTokens(), t.GetId()) {
			return "stop"
		}
		return ""
	}
	var ctxLen uint32
	l.machine.Read(func(st *tabshardv1.ClusterState) { ctxLen = st.GetPlan().GetContextLength() })
	switch {
	case stopped(l.text, s):
		return "stop"
	case s.GetMaxTokens() > 0 && uint32(len(s.GetGenerated())) >= s.GetMaxTokens():
		return "length"
	case ctxLen > 0 && state.NextPosition(s) >= ctxLen:
		return "length"
	}
	return ""
}

func (l *leader) end(ctx context.Context, id, reason string) {
	err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_EndSession{EndSession: &tabshardv1.EndSession{
		SessionId: id, State: tabshardv1.SessionState_SESSION_STATE_DONE, FinishReason: reason}}})
	l.mu.Lock()
	delete(l.progress, id)
	delete(l.ahead, id)
	delete(l.stalls, id)
	l.mu.Unlock()
	if err != nil {
		l.log.Debug("end session", "session", id, "err", err)
		return
	}
	var created int64
	l.machine.Read(func(st *tabshardv1.ClusterState) { created = state.Session(st, id).GetCreatedUnixMs() })
	l.admitted.release(l.now().Sub(time.UnixMilli(created)))
	l.announce() // the workers free the session's KV caches
}

// addCoordinator adds a coordinator, whose join token the HTTP API
// checked, to the Raft cluster.
func (l *leader) addCoordinator(ctx context.Context, req *tabshardv1.AddCoordinatorRequest) *tabshardv1.AddCoordinatorReply {
	if err := l.node.AddVoter(ctx, req.GetNodeId(), req.GetRaftAddress()); err != nil {
		return &tabshardv1.AddCoordinatorReply{Error: err.Error()}
	}
	l.log.Info("coordinator added to the Raft cluster", "node", req.GetNodeId(), "address", req.GetRaftAddress())
	return &tabshardv1.AddCoordinatorReply{}
}

// rejectForged counts and logs a heartbeat or token whose sender field
// names another worker than the subject it came on.
func (l *leader) rejectForged(what string, err error) {
	l.reject("forged " + what)
	l.log.Warn(what+" rejected", "err", err)
}

// observeStep records a committed token's per-stage compute times and, from
// the whole step's time, the mean time of its hops (stage inputs and the
// token's way back).
func (l *leader) observeStep(t *tabshardv1.Token, issued time.Time) {
	var step time.Duration
	if !issued.IsZero() {
		step = l.now().Sub(issued)
	}
	l.observeStepTime(t, step, len(t.GetStageMicros())+1)
}

// observeStepTime is observeStep of a step that took step (0: unknown)
// over hops messages.
func (l *leader) observeStepTime(t *tabshardv1.Token, step time.Duration, hops int) {
	for i, b := range t.GetStageBatch() {
		l.metrics.StageBatch.WithLabelValues(strconv.Itoa(i)).Observe(float64(b))
	}
	var compute time.Duration
	for i, us := range t.GetStageMicros() {
		d := time.Duration(us) * time.Microsecond
		compute += d
		l.metrics.StageLatency.WithLabelValues(strconv.Itoa(i)).Observe(d.Seconds())
	}
	for i, us := range t.GetStageHostMicros() {
		l.metrics.StageHost.WithLabelValues(strconv.Itoa(i)).Observe((time.Duration(us) * time.Microsecond).Seconds())
	}
	if step <= 0 {
		return
	}
	l.metrics.StageLatency.WithLabelValues("step").Observe(step.Seconds())
	if len(t.GetStageMicros()) > 0 {
		l.metrics.StepOverhead.Observe(max(step-compute, 0).Seconds())
	}
	if step > compute && len(t.GetStageMicros()) > 0 {
		l.metrics.HopLatency.WithLabelValues("mean").Observe((step - compute).Seconds() / float64(hops))
	}
}

// logMetrics counts what happens to the asynchronous publishes of one
// publisher to the activation log.
type logMetrics struct {
	m  *api.Metrics
	by string
}

func (o logMetrics) Acked(waited time.Duration) {
	o.m.LogPublish.WithLabelValues(o.by).Observe(waited.Seconds())
}
func (o logMetrics) Retried(error) { o.m.LogRetries.WithLabelValues(o.by).Inc() }
func (o logMetrics) Lost(error)    { o.m.LogLost.WithLabelValues(o.by).Inc() }
