//go:build !js

package bus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// countingObserver counts what an AsyncLog reports.
type countingObserver struct{ acked, retried, lost atomic.Int64 }

func (o *countingObserver) Acked(time.Duration) { o.acked.Add(1) }
func (o *countingObserver) Retried(error)       { o.retried.Add(1) }
func (o *countingObserver) Lost(error)          { o.lost.Add(1) }

// TestAsyncLogIsComplete: activations sent without waiting reach their
// subscriber and, once acknowledged, replay as if published one by one;
// an invalid one is refused at once and changes nothing.
func TestAsyncLogIsComplete(t *testing.T) {
	srv := inProcess(t)
	nc := connect(t, srv)
	log := openLog(t, srv, nc)
	obs := &countingObserver{}
	al := log.Async(AsyncOptions{MaxOutstanding: 2, Observer: obs})
	ctx := testContext(t)
	const n = 20
	for i := range uint32(n) {
		if err := al.Send(ctx, act("a", 1, i, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := al.SendAll(ctx, []*tabshardv1.Activation{act("b", 1, 0, 2, 1), act("b", 1, 2, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := al.Send(ctx, act("c", 1, 0, 0, 1)); !errors.Is(err, ErrInvalidActivation) {
		t.Errorf("empty activation: %v, want ErrInvalidActivation", err)
	}
	al.Wait()
	if got := obs.acked.Load(); got != n+2 || obs.retried.Load() != 0 || obs.lost.Load() != 0 {
		t.Errorf("acked %d, retried %d, lost %d; want %d, 0, 0", got, obs.retried.Load(), obs.lost.Load(), n+2)
	}
	if got, err := replay(t, log, "a", 1, 0, ReplayToEnd); err != nil || got != spanRun(n) {
		t.Errorf("replay a = %q, %v; want %q", got, err, spanRun(n))
	}
	if got, err := replay(t, log, "b", 1, 0, ReplayToEnd); err != nil || got != "[0,2)@1 [2,3)@1" {
		t.Errorf("replay b = %q, %v", got, err)
	}
	if got, err := replay(t, log, "c", 1, 0, ReplayToEnd); err != nil || got != "" {
		t.Errorf("replay c = %q, %v: the refused activation was logged", got, err)
	}
}

// spanRun is the replay of n one-position activations from 0 in epoch 1.
func spanRun(n int) string {
	out := ""
	for i := range n {
		if i > 0 {
			out += " "
		}
		out += span(act("a", 1, uint32(i), 1, 1))
	}
	return out
}

// TestAsyncLogRetriesThenCountsTheLoss: a publish the log cannot store
// (its stream is gone) is sent again until RetryFor, then counted lost;
// Send waits for room while MaxOutstanding publishes are unanswered.
func TestAsyncLogRetriesThenCountsTheLoss(t *testing.T) {
	srv := inProcess(t)
	nc := connect(t, srv)
	log := openLog(t, srv, nc)
	if err := log.js.DeleteStream(testContext(t), log.StreamName()); err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	al := log.Async(AsyncOptions{MaxOutstanding: 1, AckWait: 100 * time.Millisecond, RetryFor: 400 * time.Millisecond, Observer: obs})
	if err := al.Send(testContext(t), act("a", 1, 0, 1, 1)); err != nil {
		t.Fatal(err)
	}
	full, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	if err := al.Send(full, act("a", 1, 1, 1, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send past MaxOutstanding: %v, want the context's deadline", err)
	}
	al.Wait()
	if obs.acked.Load() != 0 || obs.retried.Load() == 0 || obs.lost.Load() != 1 {
		t.Errorf("acked %d, retried %d, lost %d; want 0, >0, 1", obs.acked.Load(), obs.retried.Load(), obs.lost.Load())
	}
}
