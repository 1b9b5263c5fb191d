package coordinator

import (
	"sync"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// watchedMachine is the replicated state machine with a broadcast of every
// change, so that any coordinator can stream tokens as they commit.
type watchedMachine struct {
	*state.Machine
	mu      sync.Mutex
	changed chan struct{}
}

func newWatchedMachine() *watchedMachine {
	return &watchedMachine{Machine: state.NewMachine(), changed: make(chan struct{})}
}

// Apply applies cmd and wakes the watchers.
func (w *watchedMachine) Apply(cmd *tabshardv1.Command) error {
	err := w.Machine.Apply(cmd)
	w.notify()
	return err
}

// Restore replaces the state and wakes the watchers.
func (w *watchedMachine) Restore(b []byte) error {
	err := w.Machine.Restore(b)
	w.notify()
	return err
}

func (w *watchedMachine) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// Changed returns a channel closed at the next change.
func (w *watchedMachine) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}
