package wasmworker

import (
	"sync"
	"time"
)

// Phases a worker goes through, as Status.Phase names them.
const (
	PhaseStarting   = "starting"   // detecting capabilities
	PhaseConnecting = "connecting" // reaching the coordinator and NATS
	PhaseJoined     = "joined"     // admitted, waiting for a plan
	PhaseLoading    = "loading"    // streaming its stage's weights
	PhaseReady      = "ready"      // weights loaded: serving as primary or standby
	PhaseRefused    = "refused"    // the coordinator refused the join token: stopped
	PhaseError      = "error"      // stopped or retrying after an error
	PhaseLeft       = "left"       // the page is going away
)

// Status is what the worker page shows, sent to it as JSON.
type Status struct {
	Phase       string `json:"phase"`
	Error       string `json:"error,omitempty"`
	Name        string `json:"name"`
	WorkerID    string `json:"worker_id,omitempty"`
	Epoch       uint64 `json:"epoch"`
	Role        string `json:"role"` // primary, standby or idle
	Stage       int    `json:"stage"`
	Layers      string `json:"layers,omitempty"`
	Backend     string `json:"backend"`
	BackendNote string `json:"backend_note,omitempty"`
	Adapter     string `json:"adapter,omitempty"`
	NATS        string `json:"nats"` // connected, disconnected, ...
	Lifecycle   string `json:"lifecycle"`

	MemoryBudget uint64  `json:"memory_budget"`
	WasmMemory   uint64  `json:"wasm_memory"` // bytes the Go runtime holds
	Bandwidth    float64 `json:"bandwidth"`   // measured matvec bytes/s

	StageBytes  int64 `json:"stage_bytes"`  // the stage's tensors
	LoadedBytes int64 `json:"loaded_bytes"` // of those, read so far
	CachedBytes int64 `json:"cached_bytes"` // read from browser storage
	// LoadSeconds is how long the last stage's load took, from its first
	// request to the stage ready to compute (0 until one is loaded).
	LoadSeconds float64 `json:"load_seconds"`

	Positions       int64   `json:"positions"`    // positions run, prefill included
	DecodeSteps     int64   `json:"decode_steps"` // one-position steps
	TokensPerSecond float64 `json:"tokens_per_second"`
	ForwardMs       float64 `json:"forward_ms"` // the last step's compute time

	Links []LinkStatus `json:"links,omitempty"`
}

// LinkStatus is one activation link of this worker.
type LinkStatus struct {
	Peer  string `json:"peer"`  // the worker at the other end
	Kind  string `json:"kind"`  // nats, broadcast, webrtc
	State string `json:"state"` // open, connecting, closed
	Sent  int64  `json:"sent"`  // messages
	Recv  int64  `json:"recv"`
	// Refused counts malformed or oversized frames from the peer.
	Refused int64 `json:"refused"`
}

// rateWindow is how far back tokens/s looks.
const rateWindow = 5 * time.Second

// minEmitInterval bounds how often the page is redrawn.
const minEmitInterval = 100 * time.Millisecond

// tracker holds a worker's Status and sends copies to the page, at most
// every minEmitInterval (the last change always gets through).
type tracker struct {
	emit func(Status)
	now  func() time.Time

	mu      sync.Mutex
	s       Status
	last    time.Time
	pending bool
	steps   []time.Time // decode steps in the last rateWindow
}

func newTracker(name string, emit func(Status)) *tracker {
	return &tracker{emit: emit, now: time.Now, s: Status{Phase: PhaseStarting, Name: name, Stage: -1, Role: "idle", NATS: "not connected", Lifecycle: "active"}}
}

// Get returns a copy of the status.
func (t *tracker) Get() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.s
	s.Links = append([]LinkStatus(nil), t.s.Links...)
	return s
}

// update changes the status and schedules a redraw.
func (t *tracker) update(fn func(*Status)) {
	t.mu.Lock()
	fn(&t.s)
	if t.emit == nil || t.pending {
		t.mu.Unlock()
		return
	}
	wait := minEmitInterval - t.now().Sub(t.last)
	if wait > 0 {
		t.pending = true
		t.mu.Unlock()
		time.AfterFunc(wait, t.flush)
		return
	}
	t.mu.Unlock()
	t.flush()
}

// flushNow sends the status at once: a page may not run timers again
// (the worker stopped, the page is going away).
func (t *tracker) flushNow() {
	if t.emit != nil {
		t.flush()
	}
}

func (t *tracker) flush() {
	t.mu.Lock()
	t.pending = false
	t.last = t.now()
	t.mu.Unlock()
	t.emit(t.Get())
}

// step records a forward pass of n positions that took d.
func (t *tracker) step(n int, d time.Duration) {
	now := t.now()
	t.update(func(s *Status) {
		s.Positions += int64(n)
		s.ForwardMs = float64(d.Microseconds()) / 1000
		if n == 1 {
			s.DecodeSteps++
			t.steps = append(t.steps, now)
		}
		s.TokensPerSecond = t.rate(now)
	})
}

// rate is the decode steps per second over the last rateWindow; the caller
// holds t.mu.
func (t *tracker) rate(now time.Time) float64 {
	i := 0
	for i < len(t.steps) && now.Sub(t.steps[i]) > rateWindow {
		i++
	}
	t.steps = t.steps[i:]
	if len(t.steps) < 2 {
		return 0
	}
	span := now.Sub(t.steps[0]).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(len(t.steps)-1) / span
}
