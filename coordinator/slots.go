package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Errors of session admission.
var (
	// errQueueFull is a session refused because MaxSessions run and
	// MaxQueued wait already.
	errQueueFull = errors.New("too many sessions: the queue is full")
	// errQueueWait is a session that waited QueueWait without a slot.
	errQueueWait = errors.New("too many sessions: no slot within the queue wait")
)

// slots lets at most limit sessions run at once and queues up to
// queued more in FIFO order: a slot that frees goes to the session that
// has waited longest, so none starves. The leader takes a slot before it
// commits a session and gives it back when the session ends; the workers
// hold a KV cache for each running session (Plan.max_sessions) and never
// evict one.
type slots struct {
	mu      sync.Mutex
	limit   int
	queued  int
	running int
	queue   []*waiter
	// lifetime is a moving average of how long a session holds its slot,
	// for the Retry-After hint.
	lifetime time.Duration
}

// waiter is a session waiting for a slot; ready closes when it has one.
type waiter struct {
	ready    chan struct{}
	admitted bool
}

func newSlots(limit, queued int) *slots {
	return &slots{limit: max(limit, 1), queued: max(queued, 0)}
}

// acquire takes a slot, waiting in line behind earlier sessions for at most
// wait (the ctx may end it sooner). It fails at once with errQueueFull when
// the line is full.
func (a *slots) acquire(ctx context.Context, wait time.Duration) error {
	a.mu.Lock()
	if a.running < a.limit && len(a.queue) == 0 {
		a.running++
		a.mu.Unlock()
		return nil
	}
	if len(a.queue) >= a.queued {
		a.mu.Unlock()
		return errQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	a.queue = append(a.queue, w)
	a.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errQueueWait
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.admitted { // the slot came as the wait ended: hand it on
		a.running--
		a.promote()
		return err
	}
	for i, q := range a.queue {
		if q == w {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			break
		}
	}
	return err
}

// release gives back the slot of a session that ran for held.
func (a *slots) release(held time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = max(a.running-1, 0)
	if held > 0 {
		if a.lifetime == 0 {
			a.lifetime = held
		} else {
			a.lifetime = (7*a.lifetime + held) / 8
		}
	}
	a.promote()
}

// reset sets the running count (a new leader counts the active sessions of
// the state) and admits waiters into free slots.
func (a *slots) reset(running int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = running
	a.promote()
}

// promote admits waiters, oldest first, while slots are free.
func (a *slots) promote() {
	for a.running < a.limit && len(a.queue) > 0 {
		w := a.queue[0]
		a.queue = a.queue[1:]
		w.admitted = true
		a.running++
		close(w.ready)
	}
}

// counts is the running and waiting sessions.
func (a *slots) counts() (running, waiting int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running, len(a.queue)
}

// retryAfter is when a refused session might find room: the time the
// sessions ahead of it take to free a slot, at least a second.
func (a *slots) retryAfter() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	rounds := (len(a.queue) + a.limit) / a.limit
	return max(time.Second, time.Duration(rounds)*a.lifetime).Round(time.Second)
}
