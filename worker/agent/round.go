package agent

import (
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// DefaultRoundWait is Config.RoundWait's default: the most a first stage
// waits, per batch, for the steps of its active sessions on their way.
const DefaultRoundWait = 2 * time.Second

// restWait is the most a stage past the first waits for the rest of the
// batch its previous stage sent: those inputs are already on the wire.
const restWait = 20 * time.Millisecond

// rounds is a first stage's record of its active sessions: when each
// one's step last ran there, and how long a session takes to come back
// (its loop through the pipeline). With it the stage gathers the steps of
// all its sessions into one batch per round: a step that finds others of
// the round still on their way waits for them, up to a deadline, instead
// of running as a group of its own.
//
// Why: a pipeline of S stages on a host with fewer cores than stages runs
// one stage at a time anyway, and each group a stage runs reads its
// weights once; S groups cost S weight reads per round where one batch
// costs one. Groups that formed when the sessions started (they arrived
// while a batch was running) would otherwise travel the pipeline apart for
// ever. Only the first stage waits: a stage past it runs what its previous
// stage sent as one batch (see rest), so no two stages wait on each other.
//
// A session is waited for while it is on time: its last step here ran at
// most 1.5 loops ago, and it is expected back (one loop after) within the
// bound. One that does not come back by then (it ended on a stop token,
// its client left) is no longer waited for. Not safe for concurrent use.
type rounds struct {
	max  time.Duration        // the most one gather waits; <= 0: never
	rest time.Duration        // the most a later stage waits for its previous stage's batch (0: restWait)
	seen map[string]time.Time // session → when its last step ran here, while more steps follow
	loop time.Duration        // moving mean of a session's time between steps here
}

// ran records that session step a, which arrived at arrived, ran here
// from started: the time from its previous step's start to its arrival
// is one loop through the pipeline.
func (g *rounds) ran(a *tabshardv1.Activation, arrived, started time.Time) {
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	id := a.GetSessionId()
	if prev, ok := g.seen[id]; ok && arrived.After(prev) {
		d := arrived.Sub(prev)
		if g.loop == 0 {
			g.loop = d
		} else {
			g.loop += (d - g.loop) / 4
		}
	}
	if end := a.GetSampling().GetEndPosition(); end != 0 && a.GetFirstPosition()+a.GetTokenCount()+1 >= end {
		delete(g.seen, id) // its last step: no next one comes
		return
	}
	g.seen[id] = started
}

// forget drops sessions that ended.
func (g *rounds) forget(ids []string) {
	for _, id := range ids {
		delete(g.seen, id)
	}
}

// reset forgets every session and the loop time (a new epoch: steps are
// re-issued, the old timing says nothing).
func (g *rounds) reset() { g.seen, g.loop = nil, 0 }

// due is when session's next step is late: 1.5 loops after its last ran.
func (g *rounds) due(last time.Time) time.Time { return last.Add(g.loop + g.loop/2) }

// waitsFor says whether a gather that began at first waits for a session
// whose last step ran at last, at now: it is not late, and it is expected
// (one loop after its last) within the bound. A session expected past the
// bound is not waited for at all: a wait cut short by the bound would
// only delay the batch (two groups further apart than the bound, each
// waiting for the other, would keep apart and lose the bound each round).
func (g *rounds) waitsFor(last, first, now time.Time) bool {
	return g.due(last).After(now) && !last.Add(g.loop).After(first.Add(g.max))
}

// until is how long a gather that began at first and holds the sessions
// gathered waits at now: until the last of the sessions it waits for is
// due, at most max after first. The zero time: run now (no session is
// expected, the stage does not wait, or the deadline passed).
func (g *rounds) until(gathered map[string]bool, first, now time.Time) time.Time {
	if g.max <= 0 || g.loop <= 0 {
		return time.Time{}
	}
	var until time.Time
	for id, last := range g.seen {
		if due := g.due(last); !gathered[id] && g.waitsFor(last, first, now) && due.After(until) {
			until = due
		}
	}
	until = minTime(until, first.Add(g.max))
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// expected counts the sessions a gather that began at first waits for at
// now.
func (g *rounds) expected(gathered map[string]bool, first, now time.Time) int {
	n := 0
	for id, last := range g.seen {
		if !gathered[id] && g.max > 0 && g.loop > 0 && g.waitsFor(last, first, now) {
			n++
		}
	}
	return n
}

// restUntil is how long a stage past the first waits, at now, for the
// rest of the batch its previous stage sent with first (the input that
// opened the gather, which arrived at at), having got n inputs: until n
// reaches that batch's size, at most restWait (and max) after at. The
// zero time: run now.
func (g *rounds) restUntil(first *tabshardv1.Activation, n int, at, now time.Time) time.Time {
	sizes := first.GetStageBatch()
	if g.max <= 0 || len(sizes) == 0 || n >= int(sizes[len(sizes)-1]) {
		return time.Time{}
	}
	wait := g.rest
	if wait == 0 {
		wait = restWait
	}
	until := at.Add(min(wait, g.max))
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// clock is the time a worker's round waits read and wait on.
type clock interface {
	Now() time.Time
	// Timer fires once, d from now; stop stops it.
	Timer(d time.Duration) (fired <-chan time.Time, stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
