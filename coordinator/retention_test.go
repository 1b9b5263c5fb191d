package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// purgeLog records the sessions whose activation log was deleted; fail
// makes the next deletion fail.
type purgeLog struct {
	purged []string
	fail   bool
}

func (p *purgeLog) Publish(context.Context, *tabshardv1.Activation) error { return nil }

func (p *purgeLog) DeleteSession(_ context.Context, id string) error {
	if p.fail {
		p.fail = false
		return errors.New("jetstream unavailable")
	}
	p.purged = append(p.purged, id)
	return nil
}

func (p *purgeLog) take() []string {
	out := p.purged
	p.purged = nil
	slices.Sort(out)
	return out
}

func runSession(t *testing.T, m *state.Machine, id string, end time.Time) {
	t.Helper()
	start := &tabshardv1.Command{UnixMs: end.UnixMilli(), Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{
		Session: &tabshardv1.Session{Id: id, Prompt: []uint32{1}, MaxTokens: 1}}}}
	stop := &tabshardv1.Command{UnixMs: end.UnixMilli(), Change: &tabshardv1.Command_EndSession{EndSession: &tabshardv1.EndSession{
		SessionId: id, State: tabshardv1.SessionState_SESSION_STATE_DONE, FinishReason: "length"}}}
	if err := m.Apply(start); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(stop); err != nil {
		t.Fatal(err)
	}
}

// A finished session's log is purged once its retention has passed, not
// before, once; one the state forgets earlier is purged at once; a failed
// purge is tried again; a tick purges at most maxPurgesPerTick.
func TestPurgeFinished(t *testing.T) {
	const retention = time.Minute
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	cfg := &Config{SessionRetention: retention, Clock: clock}
	logs := &purgeLog{}
	m := state.NewMachine()
	l := &leader{cfg: cfg, machine: m, acts: logs, log: slog.New(slog.DiscardHandler), finished: map[string]bool{}}
	ctx := context.Background()

	active := &tabshardv1.Command{Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{
		Session: &tabshardv1.Session{Id: "running", Prompt: []uint32{1}, MaxTokens: 9}}}}
	if err := m.Apply(active); err != nil {
		t.Fatal(err)
	}
	runSession(t, m, "first", clock.t)
	clock.t = clock.t.Add(retention - time.Millisecond)
	l.purgeFinished(ctx)
	if got := logs.take(); len(got) != 0 {
		t.Fatalf("purged %v before the retention passed", got)
	}

	// 255 more finished sessions (and the running one) push "first" out
	// of the state, which keeps 256.
	var later []string
	for i := range 255 {
		id := fmt.Sprintf("later%03d", i)
		later = append(later, id)
		runSession(t, m, id, clock.t)
	}
	if state.Session(m.State(), "first") != nil {
		t.Fatal("the state still holds the oldest finished session")
	}
	l.purgeFinished(ctx)
	if got := logs.take(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("purged %v, want the forgotten session at once", got)
	}

	clock.t = clock.t.Add(retention)
	logs.fail = true
	l.purgeFinished(ctx)
	if got := logs.take(); len(got) != maxPurgesPerTick-1 {
		t.Fatalf("first tick past the retention: %d purges with one failure, want %d", len(got), maxPurgesPerTick-1)
	}
	seen := map[string]int{}
	for range len(later)/maxPurgesPerTick + 2 {
		l.purgeFinished(ctx)
		for _, id := range logs.take() {
			seen[id]++
		}
	}
	for _, id := range later {
		if seen[id] > 1 {
			t.Errorf("%s purged %d times", id, seen[id])
		}
	}
	if len(seen) != len(later)-maxPurgesPerTick+1 {
		t.Errorf("%d sessions purged in the later ticks, want the %d left (the failed one included)", len(seen), len(later)-maxPurgesPerTick+1)
	}
	l.purgeFinished(ctx)
	if got := logs.take(); len(got) != 0 {
		t.Fatalf("purged %v again", got)
	}
}
