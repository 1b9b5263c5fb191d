package wasmworker

import (
	"sync"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Page lifecycle events the tab forwards to Lifecycle.Event.
const (
	EventVisible  = "visible"  // visibilitychange to visible
	EventHidden   = "hidden"   // visibilitychange to hidden
	EventFreeze   = "freeze"   // the page is about to be frozen
	EventResume   = "resume"   // a frozen page runs again
	EventPageHide = "pagehide" // the page is going away (closed, navigated)
	EventPageShow = "pageshow" // restored from the back/forward cache
)

// Lifecycle is a page's state as heartbeats report it: a hidden tab is
// throttled, a frozen one stops, a leaving one is gone. The coordinator
// reads LEAVING as a clean goodbye and can move work away from a tab that
// says it is frozen before its lease runs out. Safe for concurrent use.
type Lifecycle struct {
	mu      sync.Mutex
	hidden  bool
	frozen  bool
	leaving bool
}

// Event records a page event and returns the state after it, and whether
// it changed. Unknown events change nothing.
func (l *Lifecycle) Event(name string) (tabshardv1.Lifecycle, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.current()
	switch name {
	case EventVisible:
		l.hidden = false
	case EventHidden:
		l.hidden = true
	case EventFreeze:
		l.frozen = true
	case EventResume:
		l.frozen = false
	case EventPageHide:
		l.leaving = true
	case EventPageShow:
		l.leaving, l.frozen = false, false
	}
	after := l.current()
	return after, after != before
}

// Current is the state heartbeats report.
func (l *Lifecycle) Current() tabshardv1.Lifecycle {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current()
}

func (l *Lifecycle) current() tabshardv1.Lifecycle {
	switch {
	case l.leaving:
		return tabshardv1.Lifecycle_LIFECYCLE_LEAVING
	case l.frozen:
		return tabshardv1.Lifecycle_LIFECYCLE_FROZEN
	case l.hidden:
		return tabshardv1.Lifecycle_LIFECYCLE_HIDDEN
	}
	return tabshardv1.Lifecycle_LIFECYCLE_ACTIVE
}

// lifecycleName is the short name the worker page shows.
func lifecycleName(l tabshardv1.Lifecycle) string {
	switch l {
	case tabshardv1.Lifecycle_LIFECYCLE_HIDDEN:
		return "hidden"
	case tabshardv1.Lifecycle_LIFECYCLE_FROZEN:
		return "frozen"
	case tabshardv1.Lifecycle_LIFECYCLE_LEAVING:
		return "leaving"
	}
	return "active"
}
