package e2e

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind classifies a timeline entry.
type Kind string

// Timeline entry kinds.
const (
	KindCluster   Kind = "cluster"   // harness steps: started, ready, restarted
	KindLeader    Kind = "leader"    // a coordinator took or lost the Raft leadership
	KindJoin      Kind = "join"      // a worker was admitted
	KindExpire    Kind = "expire"    // the leader expired a worker
	KindEpoch     Kind = "epoch"     // a plan committed
	KindFailover  Kind = "failover"  // a stage changed worker
	KindWorker    Kind = "worker"    // a worker loaded a stage, became primary or standby
	KindFault     Kind = "fault"     // an injected fault
	KindToken     Kind = "token"     // the client saw a token
	KindStream    Kind = "stream"    // the client's stream broke or resumed
	KindRejected  Kind = "rejected"  // a fenced message
	KindReplay    Kind = "replay"    // a worker rebuilt a KV cache from the log
	KindRecovered Kind = "recovered" // the first token after a fault
)

// Entry is one line of a timeline.
type Entry struct {
	At     time.Duration // since the timeline started
	Kind   Kind
	Text   string
	Fields map[string]string
}

// Timeline records what happened in a simulation, in order. It is safe
// for concurrent use.
type Timeline struct {
	start time.Time
	mu    sync.Mutex
	ents  []Entry
	wake  chan struct{}
	// Live, when set, gets every entry as it is added.
	live func(Entry)
}

// NewTimeline starts an empty timeline now.
func NewTimeline() *Timeline {
	return &Timeline{start: time.Now(), wake: make(chan struct{})}
}

// Add records an entry now.
func (t *Timeline) Add(kind Kind, fields map[string]string, format string, args ...any) Entry {
	e := Entry{At: time.Since(t.start), Kind: kind, Text: fmt.Sprintf(format, args...), Fields: fields}
	t.mu.Lock()
	t.ents = append(t.ents, e)
	close(t.wake)
	t.wake = make(chan struct{})
	live := t.live
	t.mu.Unlock()
	if live != nil {
		live(e)
	}
	return e
}

// AddAt records an entry that happened at offset at (measured after the
// fact), in its place among the others.
func (t *Timeline) AddAt(at time.Duration, kind Kind, fields map[string]string, format string, args ...any) {
	e := Entry{At: at, Kind: kind, Text: fmt.Sprintf(format, args...), Fields: fields}
	t.mu.Lock()
	i, _ := slices.BinarySearchFunc(t.ents, at, func(e Entry, at time.Duration) int { return cmp.Compare(e.At, at+1) })
	t.ents = slices.Insert(t.ents, i, e)
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
}

// Since converts a time to the timeline's offset.
func (t *Timeline) Since(at time.Time) time.Duration { return at.Sub(t.start) }

// Entries returns a copy of the entries so far.
func (t *Timeline) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ents)
}

// Find returns the first entry at or after from matching match.
func (t *Timeline) Find(from time.Duration, match func(Entry) bool) (Entry, bool) {
	for _, e := range t.Entries() {
		if e.At >= from && match(e) {
			return e, true
		}
	}
	return Entry{}, false
}

// Wait waits for an entry at or after from matching match.
func (t *Timeline) Wait(ctx context.Context, from time.Duration, match func(Entry) bool) (Entry, error) {
	for {
		t.mu.Lock()
		wake := t.wake
		t.mu.Unlock()
		if e, ok := t.Find(from, match); ok {
			return e, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
}

// Print writes the timeline, one entry a line; runs of tokens are folded
// into one line per run ("greedy 12-39, sampled 10-35") unless all is set.
func (t *Timeline) Print(w io.Writer, all bool) {
	ents := t.Entries()
	for i := 0; i < len(ents); i++ {
		j := i
		for !all && ents[i].Kind == KindToken && j+1 < len(ents) && ents[j+1].Kind == KindToken {
			j++
		}
		if j == i {
			fmt.Fprintln(w, FormatEntry(ents[i]))
			continue
		}
		fmt.Fprintf(w, "%s  %-9s %s (until %s)\n", offset(ents[i].At), KindToken, foldTokens(ents[i:j+1]), strings.TrimSpace(offset(ents[j].At)))
		i = j
	}
}

// foldTokens summarises token entries as "NAME first-last" per session.
func foldTokens(ents []Entry) string {
	var order []string
	first, last := map[string]string{}, map[string]string{}
	for _, e := range ents {
		s := e.Fields["session"]
		if _, ok := first[s]; !ok {
			order = append(order, s)
			first[s] = e.Fields["index"]
		}
		last[s] = e.Fields["index"]
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%s: tokens %s-%s", s, first[s], last[s])
	}
	return strings.Join(parts, ", ")
}

// FormatEntry is one line of a printed timeline.
func FormatEntry(e Entry) string { return fmt.Sprintf("%s  %-9s %s", offset(e.At), e.Kind, e.Text) }

func offset(d time.Duration) string {
	return fmt.Sprintf("%8.3fs", d.Seconds())
}

// logHandler turns the log records of coordinators and workers that say
// what the cluster decided into timeline entries, and passes every record
// on to next (which may be nil).
type logHandler struct {
	tl    *Timeline
	next  slog.Handler
	attrs []slog.Attr
}

func newLogHandler(tl *Timeline, next slog.Handler) *logHandler {
	return &logHandler{tl: tl, next: next}
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		f := map[string]string{}
		for _, a := range h.attrs {
			f[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			f[a.Key] = a.Value.String()
			return true
		})
		h.record(r.Message, f)
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// record maps the daemon's and the agent's log messages to entries.
func (h *logHandler) record(msg string, f map[string]string) {
	switch msg {
	case "leadership":
		if f["leader"] == "true" {
			h.tl.Add(KindLeader, f, "%s leads", f["node"])
		} else {
			h.tl.Add(KindLeader, f, "%s stepped down", f["node"])
		}
	case "raft node started":
		if f["bootstrapped"] == "true" {
			h.tl.Add(KindCluster, f, "%s: Raft started (new cluster)", f["node"])
		} else if f["applied_index"] == "0" {
			h.tl.Add(KindCluster, f, "%s: Raft started from its data: no snapshot yet, the log only", f["node"])
		} else {
			h.tl.Add(KindCluster, f, "%s: Raft started from its data: snapshot restored through index %s, then the log", f["node"], f["applied_index"])
		}
	case "worker admitted":
		h.tl.Add(KindJoin, f, "%s joined (%s)", f["worker"], f["name"])
	case "worker expired":
		h.tl.Add(KindExpire, f, "%s expired: %s", f["worker"], f["reason"])
	case "plan committed":
		h.tl.Add(KindEpoch, f, "epoch %s committed (%s stages)", f["epoch"], f["stages"])
	case "failover":
		h.tl.Add(KindFailover, f, "epoch %s: stage %s %s -> %s (%s)", f["epoch"], f["stage"], f["from"], f["to"], f["reason"])
	case "token rejected":
		h.tl.Add(KindRejected, f, "token from %s (epoch %s, position %s) rejected: %s", f["from"], f["epoch"], f["position"], f["why"])
	case "activation rejected":
		if f["why"] != "" {
			from := f["from"]
			if from == "" {
				from = "the leader"
			}
			h.tl.Add(KindRejected, f, "%s rejected an activation from %s (epoch %s, position %s): %s", f["worker"], from, f["epoch"], f["position"], f["why"])
		} else {
			h.tl.Add(KindRejected, f, "%s rejected an activation (position %s): %s", f["worker"], f["position"], f["err"])
		}
	case "rebuilding KV cache from the activation log":
		h.tl.Add(KindReplay, f, "stage %s rebuilds session %s positions [%s,%s) from the log", f["stage"], f["session"], f["from"], f["to"])
	case "loading stage":
		h.tl.Add(KindWorker, f, "%s could not load stage %s: %s", strings.TrimSpace(f["sim_worker"]), f["stage"], f["err"])
	case "expired by the leader; rejoining as a new worker":
		h.tl.Add(KindWorker, f, "%s learns it was expired; rejoining", strings.TrimSpace(f["sim_worker"]))
	}
}
