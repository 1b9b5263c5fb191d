package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAdmissionFIFO: slots go to waiters in the order they came, a full
// queue refuses at once, and a waiter that gives up leaves no trace.
func TestAdmissionFIFO(t *testing.T) {
	a := newSlots(2, 3)
	ctx := context.Background()
	for range 2 {
		if err := a.acquire(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if err := a.acquire(ctx, time.Minute); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		waitFor(t, func() bool { _, q := a.counts(); return q == i+1 })
	}
	if err := a.acquire(ctx, time.Minute); !errors.Is(err, errQueueFull) {
		t.Fatalf("fourth waiter: %v, want %v", err, errQueueFull)
	}
	for want := range 3 {
		a.release(time.Second)
		if got := <-order; got != want {
			t.Fatalf("slot went to waiter %d, want %d", got, want)
		}
	}
	if r, q := a.counts(); r != 2 || q != 0 {
		t.Fatalf("running %d, queued %d; want 2, 0", r, q)
	}
}

func TestAdmissionGiveUp(t *testing.T) {
	a := newSlots(1, 2)
	if err := a.acquire(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.acquire(context.Background(), time.Millisecond); !errors.Is(err, errQueueWait) {
		t.Fatalf("timed-out waiter: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.acquire(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	if r, q := a.counts(); r != 1 || q != 0 {
		t.Fatalf("running %d, queued %d; want 1, 0", r, q)
	}
	a.release(0)
	if err := a.acquire(context.Background(), time.Minute); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// TestAdmissionReset: a new leader counts the sessions running and admits
// waiters into the slots left.
func TestAdmissionReset(t *testing.T) {
	a := newSlots(3, 1)
	a.reset(3)
	done := make(chan error, 1)
	go func() { done <- a.acquire(context.Background(), time.Minute) }()
	waitFor(t, func() bool { _, q := a.counts(); return q == 1 })
	a.reset(2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := a.retryAfter(); got < time.Second {
		t.Fatalf("retry after %v, want at least a second", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
