package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker/agent"
)

// Worker is one in-process worker (agent.Run) and its network link.
type Worker struct {
	Name   string
	index  int
	c      *Cluster
	link   *link
	cancel context.CancelCauseFunc
	done   chan struct{}
	// Metrics count what the worker refused, across its rejoins.
	Metrics agent.Metrics

	mu   sync.Mutex
	ids  []string // ids it was admitted under, the current one last
	role string   // last role reported, for the timeline
	dead bool
}

// ID is the id the worker was last admitted under ("" before it joined).
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ids) == 0 {
		return ""
	}
	return w.ids[len(w.ids)-1]
}

// IDs are every id the worker was admitted under, oldest first.
func (w *Worker) IDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ids)
}

// Dead reports whether the worker was killed.
func (w *Worker) Dead() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dead
}

// AddWorker starts one more worker against a running coordinator.
func (c *Cluster) AddWorker(ctx context.Context) *Worker {
	c.mu.Lock()
	w := &Worker{Name: fmt.Sprintf("sim-%d", len(c.workers)+1), index: len(c.workers), c: c, link: newLink(c.opts.LinkDelay), done: make(chan struct{})}
	c.workers = append(c.workers, w)
	c.mu.Unlock()
	var wctx context.Context
	wctx, w.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	go w.run(wctx)
	return w
}

// run keeps the agent running until the worker is killed or stopped, as a
// supervisor restarts a crashed process.
func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		urls := w.c.URLs()
		if len(urls) == 0 {
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		cfg := agent.Config{
			Coordinator: urls[w.index%len(urls)], JoinToken: w.c.JoinToken(), Name: w.Name,
			Capabilities: &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU, MemoryBudgetBytes: w.c.opts.WorkerMemory, CpuCores: 1},
			Logger:       w.c.log.With("sim_worker", w.Name),
			NATSOptions:  []nats.Option{nats.SetCustomDialer(w.link)},
			OnEvent:      w.onEvent,
			Metrics:      &w.Metrics,
			RoundWait:    w.c.opts.RoundWait,
		}
		err := agent.Run(ctx, cfg)
		if ctx.Err() == nil {
			w.c.tl.Add(KindWorker, nil, "%s (%s) stopped: %v; restarting", w.Name, w.ID(), err)
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

func (w *Worker) onEvent(e agent.Event) {
	w.mu.Lock()
	if e.Kind == "joined" {
		w.ids = append(w.ids, e.WorkerID)
		w.role = ""
	}
	role := fmt.Sprintf("%s of stage %d", e.Kind, e.Stage)
	changed := (e.Kind == "primary" || e.Kind == "standby") && role != w.role
	if changed {
		w.role = role
	}
	w.mu.Unlock()
	switch {
	case e.Kind == "loaded":
		w.c.mu.Lock()
		w.c.loaded[e.WorkerID] = e.Stage
		w.c.mu.Unlock()
		w.c.tl.Add(KindWorker, map[string]string{"worker": e.WorkerID}, "%s loaded stage %d", e.WorkerID, e.Stage)
	case changed:
		w.c.tl.Add(KindWorker, map[string]string{"worker": e.WorkerID, "role": e.Kind}, "%s is %s (epoch %d)", e.WorkerID, role, e.Epoch)
	}
}

// stop ends the worker: cause ErrKilled crashes it (no goodbye), nil lets
// it leave.
func (w *Worker) stop(cause error) {
	w.link.heal() // a partitioned worker must be able to close
	if cause == nil {
		cause = context.Canceled
	}
	w.cancel(cause)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.c.tl.Add(KindWorker, nil, "%s did not stop within 10s", w.Name)
	}
}

// Kill crashes the worker: its process ends without a word to anyone.
func (c *Cluster) Kill(w *Worker) {
	w.mu.Lock()
	w.dead = true
	w.mu.Unlock()
	w.cancel(agent.ErrKilled)
	c.tl.Add(KindFault, map[string]string{"worker": w.ID()}, "kill %s (%s)", w.ID(), w.Name)
	<-w.done
}

// Partition cuts the worker off NATS: its bytes stop moving both ways.
func (c *Cluster) Partition(w *Worker) {
	if w.link.partition() {
		c.tl.Add(KindFault, map[string]string{"worker": w.ID()}, "partition %s (%s) from NATS", w.ID(), w.Name)
	}
}

// Heal reconnects a partitioned worker; what it sent and was sent in the
// meantime arrives now.
func (c *Cluster) Heal(w *Worker) {
	if w.link.heal() {
		c.tl.Add(KindFault, map[string]string{"worker": w.ID()}, "heal %s (%s)", w.ID(), w.Name)
	}
}

// Workers are every worker started, dead ones included.
func (c *Cluster) Workers() []*Worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.workers)
}

// Worker finds the worker admitted as id (now or before).
func (c *Cluster) Worker(id string) *Worker {
	for _, w := range c.Workers() {
		if slices.Contains(w.IDs(), id) {
			return w
		}
	}
	return nil
}

// errNoWorker is a fault target that names no running worker.
var errNoWorker = errors.New("no such worker")

// Primary is the worker running stage as primary in the leader's plan.
func (c *Cluster) Primary(stage int) (*Worker, error) {
	stages := c.State().GetPlan().GetStages()
	if stage < 0 || stage >= len(stages) {
		return nil, fmt.Errorf("%w: the plan has %d stages, not stage %d", errNoWorker, len(stages), stage)
	}
	id := stages[stage].GetDeviceId()
	if w := c.Worker(id); w != nil {
		return w, nil
	}
	return nil, fmt.Errorf("%w: %s runs stage %d", errNoWorker, id, stage)
}

// Standby is a standby of stage, picked with the cluster's seed.
func (c *Cluster) Standby(stage int) (*Worker, error) {
	stages := c.State().GetPlan().GetStages()
	if stage < 0 || stage >= len(stages) || len(stages[stage].GetStandbyDeviceIds()) == 0 {
		return nil, fmt.Errorf("%w: stage %d has no standby", errNoWorker, stage)
	}
	ids := stages[stage].GetStandbyDeviceIds()
	c.mu.Lock()
	id := ids[c.rng.IntN(len(ids))]
	c.mu.Unlock()
	if w := c.Worker(id); w != nil {
		return w, nil
	}
	return nil, fmt.Errorf("%w: %s", errNoWorker, id)
}
