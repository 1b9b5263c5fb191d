package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// followers counts the clients following each session at this coordinator.
type followers struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *followers) add(id string, d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	if f.n[id] += d; f.n[id] <= 0 {
		delete(f.n, id)
	}
}

func (f *followers) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[id]
}

// errCancel is a cancellation the leader refused or did not answer.
var errCancel = errors.New("cancel session")

// Abandon is told that the client that started session id went away
// before its end: unless a client follows the session again at this
// coordinator within the resume window, the leader cancels it, so that a
// session nobody reads does not hold its slot and KV caches to the end.
func (b backend) Abandon(id string) {
	c := b.c
	time.AfterFunc(c.cfg.ResumeWindow, func() {
		select {
		case <-c.done:
			return
		default:
		}
		if c.follows.count(id) > 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.cancelSession(ctx, id); err != nil {
			c.cfg.Logger.Warn("session left by its client not cancelled", "session", id, "err", err)
		}
	})
}

// cancelSession asks the leader to cancel session id: directly when this
// coordinator leads, else by a NATS request.
func (c *Coordinator) cancelSession(ctx context.Context, id string) error {
	if l := c.currentLeader(); l != nil {
		return l.cancel(ctx, id)
	}
	reply := &tabshardv1.CancelSessionReply{}
	if err := bus.Request(ctx, c.nc, c.subj.CancelSession(), &tabshardv1.CancelSession{SessionId: id}, reply); err != nil {
		return fmt.Errorf("%w %s: %w", errCancel, id, err)
	}
	if reply.GetError() != "" {
		return fmt.Errorf("%w %s: %s", errCancel, id, reply.GetError())
	}
	return nil
}
