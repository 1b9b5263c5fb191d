package agent

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

var t0 = time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)

// step is session id's decode step at position pos of a session that ends
// at end (0: the coordinator decides).
func step(id string, pos, end uint32) *tabshardv1.Activation {
	return &tabshardv1.Activation{SessionId: id, FirstPosition: pos, TokenCount: 1, Sampling: &tabshardv1.Sampling{EndPosition: end}}
}

func set(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// loopOf runs ids' steps twice, loop apart, from t0: the stage has
// learned the loop time. It returns when the second steps ran.
func loopOf(g *rounds, loop time.Duration, ids ...string) time.Time {
	for k := range 2 {
		at := t0.Add(time.Duration(k) * loop)
		for _, id := range ids {
			g.ran(step(id, uint32(10+k), 0), at, at)
		}
	}
	return t0.Add(loop)
}

func TestRoundsLearnTheLoop(t *testing.T) {
	g := &rounds{max: time.Second}
	g.ran(step("a", 8, 0), t0, t0)
	if g.loop != 0 {
		t.Fatalf("loop %v after one step, want none yet", g.loop)
	}
	g.ran(step("a", 9, 0), t0.Add(100*time.Millisecond), t0.Add(120*time.Millisecond)) // waited 20 ms here
	if g.loop != 100*time.Millisecond {
		t.Fatalf("loop %v, want 100ms: from the last start to the arrival", g.loop)
	}
	g.ran(step("a", 10, 0), t0.Add(320*time.Millisecond), t0.Add(320*time.Millisecond))
	if want := 100*time.Millisecond + (200*time.Millisecond-100*time.Millisecond)/4; g.loop != want {
		t.Fatalf("loop %v, want the moving mean %v", g.loop, want)
	}
}

func TestRoundsWaitForTheSessionsOnTheirWay(t *testing.T) {
	const loop = 100 * time.Millisecond
	g := &rounds{max: time.Second}
	last := loopOf(g, loop, "a", "b", "c")
	// a comes back first: b and c are on their way, due 1.5 loops after
	// they last ran.
	now := last.Add(loop)
	if got, want := g.until(set("a"), now, now), last.Add(loop+loop/2); !got.Equal(want) {
		t.Fatalf("a alone waits until %v, want %v", got, want)
	}
	if n := g.expected(set("a"), now, now); n != 2 {
		t.Fatalf("%d sessions expected, want b and c", n)
	}
	// b arrives: c still on its way.
	if got := g.until(set("a", "b"), now, now.Add(10*time.Millisecond)); got.IsZero() {
		t.Fatal("a and b run without c, which is on time")
	}
	// the whole round is there: run at once.
	if got := g.until(set("a", "b", "c"), now, now.Add(20*time.Millisecond)); !got.IsZero() {
		t.Fatalf("the whole round gathered, yet it waits until %v", got)
	}
	// c is late (it ended on a stop token, say): no wait past its due.
	if got := g.until(set("a", "b"), now, last.Add(loop+loop/2)); !got.IsZero() {
		t.Fatalf("waits until %v for a session past its due", got)
	}
}

func TestRoundsWaitIsBounded(t *testing.T) {
	const loop = time.Second
	g := &rounds{max: 300 * time.Millisecond}
	last := loopOf(g, loop, "a", "b")
	// b is expected 100 ms after a: a waits, until b is due (1.5 loops)
	// but no more than the bound after a came.
	first := last.Add(loop - 100*time.Millisecond)
	if got, want := g.until(set("a"), first, first), first.Add(300*time.Millisecond); !got.Equal(want) {
		t.Fatalf("waits until %v, want at most max after the first arrival: %v", got, want)
	}
	if got := g.until(set("a"), first, first.Add(300*time.Millisecond)); !got.IsZero() {
		t.Fatalf("waits until %v past the bound", got)
	}
	// b expected 400 ms after a, past the bound: no wait at all.
	first = last.Add(loop - 400*time.Millisecond)
	if got := g.until(set("a"), first, first); !got.IsZero() {
		t.Fatalf("waits until %v for a session expected past the bound", got)
	}
	if n := g.expected(set("a"), first, first); n != 0 {
		t.Fatalf("%d sessions expected past the bound", n)
	}
}

// Two groups further apart (both ways) than the bound: neither waits for
// the other, so none loses the bound each round.
func TestRoundsDoNotWaitInVain(t *testing.T) {
	const loop = time.Second
	g := &rounds{max: 300 * time.Millisecond}
	g.ran(step("a", 1, 0), t0, t0)
	g.ran(step("b", 1, 0), t0.Add(loop/2), t0.Add(loop/2))
	for k := 1; k < 10; k++ {
		for _, id := range []string{"a", "b"} {
			at := t0.Add(time.Duration(k) * loop)
			if id == "b" {
				at = at.Add(loop / 2)
			}
			if got := g.until(set(id), at, at); !got.IsZero() {
				t.Fatalf("round %d: %s waits until %v for a group half a loop away", k, id, got)
			}
			g.ran(step(id, uint32(1+k), 0), at, at)
		}
	}
}

func TestRoundsNeverWaitWhenOff(t *testing.T) {
	for _, max := range []time.Duration{0, -1} {
		g := &rounds{max: max}
		last := loopOf(g, 100*time.Millisecond, "a", "b")
		if got := g.until(set("a"), last, last.Add(time.Millisecond)); !got.IsZero() {
			t.Fatalf("max %v: waits until %v", max, got)
		}
	}
	g := &rounds{max: time.Second}
	g.ran(step("a", 3, 0), t0, t0)
	if got := g.until(set("b"), t0, t0.Add(time.Millisecond)); !got.IsZero() {
		t.Fatalf("waits until %v before any loop time is known", got)
	}
}

// A session's last step (by its end position), an ended one and those of
// an old epoch are not waited for.
func TestRoundsForgetSessionsThatWontCome(t *testing.T) {
	const loop = 100 * time.Millisecond
	g := &rounds{max: time.Second}
	last := loopOf(g, loop, "a", "b", "c")
	g.ran(step("b", 30, 32), last, last) // its token is at 31, the last position: no next step
	now := last.Add(loop)
	if n := g.expected(set("a"), now, now); n != 1 {
		t.Fatalf("%d expected, want only c", n)
	}
	g.forget([]string{"c"})
	if got := g.until(set("a"), now, now); !got.IsZero() {
		t.Fatalf("waits until %v for ended sessions", got)
	}
	g = &rounds{max: time.Second}
	last = loopOf(g, loop, "a", "b")
	g.reset()
	if got := g.until(set("a"), last, last); !got.IsZero() || g.loop != 0 {
		t.Fatalf("after a reset: waits until %v, loop %v", got, g.loop)
	}
}

func TestRestOfTheUpstreamBatch(t *testing.T) {
	a := &tabshardv1.Activation{SessionId: "a", Stage: 1, StageBatch: []uint32{3}}
	g := &rounds{max: time.Second}
	if got, want := g.restUntil(a, 1, t0, t0), t0.Add(restWait); !got.Equal(want) {
		t.Fatalf("1 of a batch of 3: waits until %v, want %v", got, want)
	}
	small := &rounds{max: 5 * time.Millisecond}
	if got, want := small.restUntil(a, 1, t0, t0), t0.Add(5*time.Millisecond); !got.Equal(want) {
		t.Fatalf("under a smaller bound: waits until %v, want %v", got, want)
	}
	for _, c := range []struct {
		name string
		a    *tabshardv1.Activation
		n    int
		now  time.Time
		max  time.Duration
	}{
		{"all 3 there", a, 3, t0, time.Second},
		{"past the bound", a, 1, t0.Add(restWait), time.Second},
		{"waiting off", a, 1, t0, -1},
		{"no batch size (from the coordinator)", &tabshardv1.Activation{SessionId: "a"}, 1, t0, time.Second},
	} {
		g := &rounds{max: c.max}
		if got := g.restUntil(c.a, c.n, t0, c.now); !got.IsZero() {
			t.Errorf("%s: waits until %v", c.name, got)
		}
	}
}

// TestRoundsMergeGroups plays the first stage of a pipeline on a host
// that runs one stage at a time, with injected time: three groups of
// sessions that started apart come back each after the same loop, and
// the rule gathers them into one batch within a round; from then on every
// round runs as one batch and waits for nothing.
func TestRoundsMergeGroups(t *testing.T) {
	const loop = 90 * time.Millisecond
	g := &rounds{max: time.Second}
	type arrival struct {
		at  time.Time
		ids []string
	}
	var queue []arrival // sorted by time
	push := func(at time.Time, ids []string) {
		queue = append(queue, arrival{at, ids})
		slices.SortFunc(queue, func(x, y arrival) int { return x.at.Compare(y.at) })
	}
	for k := range 3 { // groups of 4, a third of a loop apart
		var ids []string
		for i := range 4 {
			ids = append(ids, fmt.Sprintf("g%d-%d", k, i))
		}
		push(t0.Add(time.Duration(k)*loop/3), ids)
	}
	pos := map[string]uint32{}
	var batches []int
	var waits []time.Duration
	for len(batches) < 12 {
		first := queue[0]
		queue = queue[1:]
		got := append([]string(nil), first.ids...)
		now := first.at
		for { // the member's gather: take arrivals until the rule says run
			until := g.until(set(got...), first.at, now)
			if until.IsZero() {
				break
			}
			if len(queue) == 0 || queue[0].at.After(until) {
				now = until
				break
			}
			now = queue[0].at
			got = append(got, queue[0].ids...)
			queue = queue[1:]
		}
		for _, id := range got {
			g.ran(step(id, pos[id], 0), first.at, now)
			pos[id]++
		}
		batches, waits = append(batches, len(got)), append(waits, now.Sub(first.at))
		push(now.Add(loop), got)
	}
	t.Logf("batches %v, waits %v", batches, waits)
	// The first round of each group teaches the loop; within the next
	// round the three become one.
	i := slices.Index(batches, 12)
	if i < 0 || i > 5 {
		t.Fatalf("batches %v: the groups never merged into one of 12 within two rounds", batches)
	}
	for j := i; j < len(batches); j++ {
		if batches[j] != 12 || (j > i && waits[j] != 0) {
			t.Fatalf("batches %v, waits %v: once merged every round must be one batch that waits for nothing", batches, waits)
		}
	}
}

// waitClock reads the real time and tells the test of each wait the
// gather starts (its timer fires only when the test fires it).
type waitClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func (c *waitClock) Now() time.Time { return time.Now() }

func (c *waitClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.waits <- d
	return c.fire, func() bool { return true }
}

// gatherer is a worker holding runners[stage] at epoch 1, its round
// record knowing sessions a, b and c (each ran an hour-long loop ago, so
// none is late however slow the test machine), and channels to feed it.
func gatherer(t *testing.T, stage int) (*member, *waitClock, chan inbound, chan *tabshardv1.Activation, chan *tabshardv1.EpochAnnouncement) {
	t.Helper()
	runners := pipeline(t, stories(t), &memBus{})
	clk := &waitClock{waits: make(chan time.Duration, 1), fire: make(chan time.Time, 1)}
	m := &member{cfg: Config{Metrics: &Metrics{}}, epoch: 1, runner: runners[stage], round: rounds{max: time.Hour, rest: time.Hour}, clock: clk}
	now := time.Now()
	loopOf(&m.round, time.Hour, "a", "b", "c")
	for _, id := range []string{"a", "b", "c"} {
		m.round.seen[id] = now
	}
	return m, clk, make(chan inbound, 8), make(chan *tabshardv1.Activation, 8), make(chan *tabshardv1.EpochAnnouncement, 1)
}

func sessionsOf(got []inbound) []string {
	var ids []string
	for _, in := range got {
		ids = append(ids, in.a.GetSessionId())
	}
	return ids
}

type gathered struct {
	got []inbound
	cut cut
}

// gatherAsync runs m.gatherRound from first in a goroutine.
func gatherAsync(m *member, first inbound, acts chan inbound, linked chan *tabshardv1.Activation, epochs chan *tabshardv1.EpochAnnouncement) chan gathered {
	done := make(chan gathered, 1)
	go func() {
		got, c := m.gatherRound(context.Background(), first, acts, linked, epochs)
		done <- gathered{got, c}
	}()
	return done
}

// The first stage holds a's step while b's and c's are on their way, and
// runs the three as one batch; an epoch announcement or a link delivery
// ends the wait; its bound ends it too.
func TestGatherRoundWaitsForTheRound(t *testing.T) {
	m, clk, acts, linked, epochs := gatherer(t, 0)
	in := func(id string) inbound {
		return inbound{a: &tabshardv1.Activation{SessionId: id, Epoch: 1, FirstPosition: 12, TokenCount: 1, Tokens: []uint32{1}}, at: time.Now()}
	}
	done := gatherAsync(m, in("a"), acts, linked, epochs)
	<-clk.waits // waiting for b and c
	acts <- in("b")
	<-clk.waits // still for c
	acts <- in("c")
	r := <-done
	if ids := sessionsOf(r.got); !slices.Equal(ids, []string{"a", "b", "c"}) || r.cut != (cut{}) {
		t.Fatalf("gathered %v (cut %+v), want a, b and c", ids, r.cut)
	}
	if m.cfg.Metrics.RoundWaits.Load() != 1 {
		t.Fatalf("%d round waits counted, want 1", m.cfg.Metrics.RoundWaits.Load())
	}
	// An epoch announcement ends the wait: it is handed back, to be
	// handled after the inputs gathered before it.
	ann := &tabshardv1.EpochAnnouncement{Epoch: 2}
	done = gatherAsync(m, in("a"), acts, linked, epochs)
	<-clk.waits
	epochs <- ann
	if r = <-done; !slices.Equal(sessionsOf(r.got), []string{"a"}) || r.cut.ann != ann {
		t.Fatalf("gathered %v, cut %+v; want a alone and the announcement", sessionsOf(r.got), r.cut)
	}
	// So does a link delivery.
	l := &tabshardv1.Activation{SessionId: "b", Epoch: 1, FirstPosition: 12, TokenCount: 1, Tokens: []uint32{1}}
	done = gatherAsync(m, in("a"), acts, linked, epochs)
	<-clk.waits
	linked <- l
	if r = <-done; len(r.got) != 1 || r.cut.linked != l {
		t.Fatalf("gathered %v, cut %+v; want a alone and the link delivery", sessionsOf(r.got), r.cut)
	}
	// The deadline: a runs without the others.
	done = gatherAsync(m, in("a"), acts, linked, epochs)
	if d := <-clk.waits; d <= 0 || d > time.Hour {
		t.Fatalf("waits %v, want at most the bound, an hour", d)
	}
	clk.fire <- time.Now()
	if r = <-done; len(r.got) != 1 || r.cut != (cut{}) {
		t.Fatalf("gathered %v, cut %+v; want a alone", sessionsOf(r.got), r.cut)
	}
	// Off, or for an input of another epoch, it never waits (the clock
	// would block on an unread wait).
	clk.waits = make(chan time.Duration)
	old := in("a")
	old.a.Epoch = 0
	if got, _ := m.gatherRound(context.Background(), old, acts, linked, epochs); len(got) != 1 {
		t.Fatalf("gathered %v for an old epoch's input", sessionsOf(got))
	}
	m.round.max = -1
	if got, _ := m.gatherRound(context.Background(), in("a"), acts, linked, epochs); len(got) != 1 {
		t.Fatalf("gathered %v with the wait off", sessionsOf(got))
	}
}

// A later stage waits for the rest of the batch its previous stage sent
// (three, by the input's stage_batch), not for sessions.
func TestGatherRoundTakesTheRestOfTheUpstreamBatch(t *testing.T) {
	m, clk, acts, linked, epochs := gatherer(t, 1)
	in := func(id string, batch uint32) inbound {
		return inbound{a: &tabshardv1.Activation{SessionId: id, Epoch: 1, Stage: 1, FirstPosition: 12, TokenCount: 1, StageBatch: []uint32{batch}}, at: time.Now()}
	}
	done := gatherAsync(m, in("a", 3), acts, linked, epochs)
	<-clk.waits
	acts <- in("b", 3)
	<-clk.waits
	acts <- in("c", 3)
	if r := <-done; !slices.Equal(sessionsOf(r.got), []string{"a", "b", "c"}) {
		t.Fatalf("gathered %v, want a, b and c in order", sessionsOf(r.got))
	}
	// A batch of one upstream: nothing more to wait for, whatever the
	// sessions this stage knows.
	clk.waits = make(chan time.Duration)
	if got, _ := m.gatherRound(context.Background(), in("a", 1), acts, linked, epochs); len(got) != 1 {
		t.Fatalf("gathered %v", sessionsOf(got))
	}
}
