package consensus

import "sync"

// broadcast is a channel that is closed, and replaced, on every change: a
// waiter takes the channel first, then checks its condition, then waits on
// the channel, and misses no change that happened after the check.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast {
	return &broadcast{ch: make(chan struct{})}
}

// wait returns the channel the next change closes.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

// fire wakes every waiter.
func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}

// leaderEvents is the buffered channel behind Node.LeaderChanges. It never
// blocks its one writer: when the reader falls behind, the oldest event is
// dropped, so the last value read is always the current one.
type leaderEvents struct {
	ch chan bool
}

const leaderEventsBuffer = 16

func newLeaderEvents() *leaderEvents {
	return &leaderEvents{ch: make(chan bool, leaderEventsBuffer)}
}

// push must be called from one goroutine only.
func (e *leaderEvents) push(v bool) {
	for {
		select {
		case e.ch <- v:
			return
		default:
		}
		select {
		case <-e.ch: // drop the oldest
		default:
		}
	}
}
