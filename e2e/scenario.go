package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Scenario is one simulation: a cluster, the completions its clients
// stream at once, and the faults injected as the first client sees tokens.
type Scenario struct {
	Options
	// Requests stream concurrently; faults fire on Requests[0]'s tokens.
	Requests []Request
	Faults   []Fault
	// ClientAtLeader starts the streams at the leader (so that killing it
	// breaks them); otherwise at a follower.
	ClientAtLeader bool
	// ClientAt, when set, starts the streams at this coordinator ("c1")
	// instead.
	ClientAt string
	// Timeout bounds the whole run (default 60s).
	Timeout time.Duration
}

// FaultReport says what one fault did.
type FaultReport struct {
	Fault    Fault
	Target   string        // the worker or coordinator it hit
	Injected time.Duration // on the timeline
	// Recovery is the time from the fault to the first token the client
	// got after the cluster repaired itself (a failover committed, a new
	// leader, the coordinators back); 0 when there was nothing to repair
	// or generation ended first.
	Recovery time.Duration
	// Stale describes the late message sent in a healed worker's name.
	Stale *tabshardv1.Token
	Err   error
}

// Outcome is what a scenario produced.
type Outcome struct {
	Results  []*Result
	Faults   []*FaultReport
	Timeline *Timeline
	// Consistency is nil when every coordinator ended with the same state.
	Consistency error
	// Final is the leader's state at the end.
	Final *tabshardv1.ClusterState
}

// Run runs a scenario on a fresh cluster and closes it.
func Run(ctx context.Context, sc Scenario) (*Outcome, error) {
	sc.defaults()
	if sc.Timeout == 0 {
		sc.Timeout = 60 * time.Second
	}
	for _, f := range sc.Faults {
		if err := f.Check(sc.Stages); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, sc.Timeout)
	defer cancel()
	c, err := Start(ctx, sc.Options)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c.Play(ctx, sc)
}

// Play streams the scenario's requests on a ready cluster and injects its
// faults.
func (c *Cluster) Play(ctx context.Context, sc Scenario) (*Outcome, error) {
	out := &Outcome{Timeline: c.tl, Results: make([]*Result, len(sc.Requests))}
	inj := newInjector(ctx, c, sc.Faults)
	cl := &client{urls: c.clientURLs(sc.ClientAtLeader, sc.ClientAt), http: &http.Client{}, stall: 5 * time.Second, tl: c.tl}
	defer cl.http.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make([]error, len(sc.Requests))
	for i, req := range sc.Requests {
		if req.Name == "" {
			req.Name = fmt.Sprintf("s%d", i+1)
		}
		onEvent := func(Event) {}
		if i == 0 {
			onEvent = inj.seen
		}
		wg.Go(func() { out.Results[i], errs[i] = cl.stream(ctx, req, onEvent) })
	}
	wg.Wait()
	out.Faults = inj.finish()
	// A killed coordinator comes back from its data, so that consistency
	// covers it too.
	out.Consistency = c.RestartStopped(ctx)
	if out.Consistency == nil {
		out.Consistency = c.CheckConsistency(ctx, 5*time.Second)
	}
	out.Final = c.State()
	if len(out.Results) > 0 && out.Results[0] != nil {
		measureRecovery(out, c.tl)
	}
	return out, errors.Join(errs...)
}

// clientURLs lists the coordinators a client tries, in order: coordinator
// at when it runs, else the leader or a follower first.
func (c *Cluster) clientURLs(leaderFirst bool, at string) func() []string {
	return func() []string {
		urls := c.URLs()
		var lead string
		if l := c.Leader(); l != nil {
			lead = l.HTTPURL()
		}
		first := c.CoordinatorURL(at)
		for i, u := range urls {
			if first != "" && u == first || first == "" && (u == lead) == leaderFirst {
				return append(urls[i:], urls[:i]...)
			}
		}
		return urls
	}
}

// injector fires faults as the first client sees tokens, one at a time,
// in order, on its own goroutine.
type injector struct {
	ctx     context.Context
	c       *Cluster
	pending []*FaultReport
	queue   chan func()
	done    chan struct{}

	mu          sync.Mutex
	fired       map[*FaultReport]bool
	healed      map[*FaultReport]bool
	session     string
	partitioned map[*FaultReport]partitionInfo
}

type partitionInfo struct {
	w     *Worker
	id    string
	epoch uint64
}

func newInjector(ctx context.Context, c *Cluster, faults []Fault) *injector {
	inj := &injector{ctx: ctx, c: c, queue: make(chan func(), 64), done: make(chan struct{}),
		fired: map[*FaultReport]bool{}, healed: map[*FaultReport]bool{}, partitioned: map[*FaultReport]partitionInfo{}}
	for _, f := range faults {
		inj.pending = append(inj.pending, &FaultReport{Fault: f})
	}
	go func() {
		defer close(inj.done)
		for fn := range inj.queue {
			fn()
		}
	}()
	return inj
}

// seen is the first client's event hook: it queues the faults due.
func (inj *injector) seen(ev Event) {
	if ev.FinishReason != "" {
		return
	}
	inj.mu.Lock()
	defer inj.mu.Unlock()
	inj.session = ev.Session
	for _, r := range inj.pending {
		if !inj.fired[r] && ev.Index >= r.Fault.At {
			inj.fired[r] = true
			inj.queue <- func() { inj.fire(r) }
		}
		if r.Fault.Action == "partition" && inj.fired[r] && !inj.healed[r] && ev.Index >= r.Fault.Until {
			inj.healed[r] = true
			inj.queue <- func() { inj.heal(r) }
		}
	}
}

// finish heals what is still partitioned, waits for the queued faults and
// reports them.
func (inj *injector) finish() []*FaultReport {
	inj.mu.Lock()
	for _, r := range inj.pending {
		if r.Fault.Action == "partition" && inj.fired[r] && !inj.healed[r] {
			inj.healed[r] = true
			inj.queue <- func() { inj.heal(r) }
		}
		if !inj.fired[r] {
			r.Err = fmt.Errorf("not injected: the stream ended before token %d", r.Fault.At)
		}
	}
	close(inj.queue)
	inj.mu.Unlock()
	<-inj.done
	return inj.pending
}

// jitter waits a seeded fraction of a few milliseconds, so that faults
// land at different points of a step across seeds.
func (inj *injector) jitter() {
	inj.c.mu.Lock()
	d := time.Duration(inj.c.rng.Int64N(int64(4 * time.Millisecond)))
	inj.c.mu.Unlock()
	sleep(inj.ctx, d)
}

func (inj *injector) fire(r *FaultReport) {
	inj.jitter()
	f := r.Fault
	c := inj.c
	r.Injected = c.tl.Since(time.Now())
	switch f.Action {
	case "kill":
		r.Err = inj.kill(r)
	case "partition":
		w, err := inj.target(f)
		if err != nil {
			r.Err = err
			return
		}
		r.Target = w.ID()
		inj.mu.Lock()
		inj.partitioned[r] = partitionInfo{w: w, id: w.ID(), epoch: c.State().GetEpoch()}
		inj.mu.Unlock()
		c.Partition(w)
	case "add":
		w := c.AddWorker(inj.ctx)
		c.tl.Add(KindFault, nil, "add a worker (%s)", w.Name)
		r.Target = w.Name
	case "restart":
		r.Target = "every coordinator"
		r.Err = c.RestartCoordinators(inj.ctx)
	}
	if r.Err != nil {
		c.tl.Add(KindFault, nil, "%s: %v", f.Spec, r.Err)
	}
}

func (inj *injector) kill(r *FaultReport) error {
	c := inj.c
	switch r.Fault.Target {
	case "leader":
		id, err := c.KillLeader()
		r.Target = id
		return err
	case "coordinator":
		r.Target = r.Fault.coordinator()
		return c.KillCoordinator(r.Target)
	}
	w, err := inj.target(r.Fault)
	if err != nil {
		return err
	}
	r.Target = w.ID()
	c.Kill(w)
	return nil
}

// target resolves the worker a fault names.
func (inj *injector) target(f Fault) (*Worker, error) {
	c := inj.c
	pick := func(n int) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.rng.IntN(n)
	}
	stages := len(c.State().GetPlan().GetStages())
	switch f.Target {
	case "stage":
		return c.Primary(f.stage(stages, pick))
	case "standby":
		return c.Standby(f.stage(stages, pick))
	case "worker":
		if w := c.Worker(f.worker()); w != nil && !w.Dead() {
			return w, nil
		}
		return nil, fmt.Errorf("%w: %s", errNoWorker, f.worker())
	}
	return nil, fmt.Errorf("%w: %s", errNoWorker, f.Spec)
}

// heal heals a partition, then sends a token in the worker's old name and
// epoch for the session's next position, as its late output would arrive:
// the leader must reject it.
func (inj *injector) heal(r *FaultReport) {
	inj.mu.Lock()
	p, ok := inj.partitioned[r]
	session := inj.session
	inj.mu.Unlock()
	if !ok {
		return
	}
	c := inj.c
	c.Heal(p.w)
	s := state.Session(c.State(), session)
	if s == nil || s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE {
		return
	}
	t := &tabshardv1.Token{SessionId: session, Epoch: p.epoch, Position: state.NextPosition(s), Id: 300, ProducerWorkerId: p.id}
	if err := c.publishStale(t); err != nil {
		r.Err = err
		return
	}
	r.Stale = t
	c.tl.Add(KindFault, map[string]string{"worker": p.id}, "late token in %s's name: epoch %d, position %d", p.id, t.Epoch, t.Position)
}

// measureRecovery fills in each fault's recovery time from the timeline:
// the first token after the repair the fault called for.
func measureRecovery(out *Outcome, tl *Timeline) {
	events := out.Results[0].Events
	for _, r := range out.Faults {
		if r.Err != nil || r.Injected == 0 {
			continue
		}
		repaired, ok := repairEntry(tl, r)
		if !ok {
			continue
		}
		for _, ev := range events {
			if ev.FinishReason == "" && tl.Since(ev.At) > repaired.At {
				r.Recovery = tl.Since(ev.At) - r.Injected
				tl.AddAt(tl.Since(ev.At), KindRecovered, nil, "%s: token %d came %v after the fault", r.Fault.Spec, ev.Index, r.Recovery.Round(time.Millisecond))
				break
			}
		}
	}
}

// repairEntry finds the timeline entry where the cluster repaired what the
// fault broke.
func repairEntry(tl *Timeline, r *FaultReport) (Entry, bool) {
	switch {
	case r.Fault.Action == "kill" && r.Fault.Target == "coordinator":
		// The repair is the bus's (workers reconnect to another server)
		// and, if it led, a new leader's: the first token after the kill.
		return tl.Find(r.Injected, func(e Entry) bool { return e.Kind == KindFault })
	case r.Fault.Action == "kill" && r.Fault.Target == "leader":
		return tl.Find(r.Injected, func(e Entry) bool { return e.Kind == KindLeader && strings.HasSuffix(e.Text, " leads") })
	case r.Fault.Action == "kill" || r.Fault.Action == "partition":
		return tl.Find(r.Injected, func(e Entry) bool { return e.Kind == KindFailover && e.Fields["from"] == r.Target })
	case r.Fault.Action == "restart":
		return tl.Find(r.Injected, func(e Entry) bool { return e.Kind == KindLeader && strings.HasSuffix(e.Text, " leads") })
	}
	return Entry{}, false
}
