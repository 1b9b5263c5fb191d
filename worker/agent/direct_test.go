package agent

import (
	"context"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// deliver runs every queued message on its stage's runner in epoch.
func deliver(t *testing.T, bus *memBus, runners []*Runner, epoch uint64) {
	t.Helper()
	for len(bus.queue) > 0 {
		a := bus.queue[0]
		bus.queue = bus.queue[1:]
		if a.GetEpoch() < epoch {
			continue // a worker of the new epoch drops older inputs
		}
		if err := runners[a.GetStage()].Handle(context.Background(), a, epoch); err != nil {
			t.Fatalf("stage %d: %v", a.GetStage(), err)
		}
	}
}

func ids(ts []*tabshardv1.Token) []uint32 {
	var out []uint32
	for _, t := range ts {
		out = append(out, t.GetId())
	}
	return out
}

// With Sampling.end_position the last stage sends each next step straight
// to the first stage: from the prompt alone the pipeline produces run.c's
// sampled text (the generator state moves on with each token), and stops
// where the session ends by length.
func TestLastStageDrivesThePipeline(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	metrics := &Metrics{}
	runners[1].Metrics = metrics
	const end = 101 // the prompt's one position and 100 tokens
	bus.SendActivation(context.Background(), &tabshardv1.Activation{SessionId: "s1", Epoch: 1, TokenCount: 1, Tokens: []uint32{1},
		Sampling: &tabshardv1.Sampling{Temperature: 1, TopP: 0.9, RngState: 42, EndPosition: end}, ProducerWorkerId: "coordinator"})
	deliver(t, bus, runners, 1)
	if want := oracleIDs(t, "noprompt_t1_p0.9_s42_n100.ids.txt"); !equal(ids(bus.tokens), want) {
		t.Fatalf("got %v\nrun.c %v", ids(bus.tokens), want)
	}
	if metrics.Steps.Load() != 100 || metrics.ComputeNanos.Load() == 0 || metrics.HostNanos.Load() == 0 {
		t.Errorf("stage 1 counted %d steps, %d ns of compute, %d ns outside it; want 100 and more than 0",
			metrics.Steps.Load(), metrics.ComputeNanos.Load(), metrics.HostNanos.Load())
	}
	for _, a := range bus.log[key("s1", 0)][1:] {
		if a.GetProducerWorkerId() != "w2" || a.GetTokenCount() != 1 {
			t.Fatalf("first stage's input from %q of %d positions, want the last stage's one", a.GetProducerWorkerId(), a.GetTokenCount())
		}
	}
}

// The last stage does not send the step after a stop token, nor after the
// token whose position reaches end_position; a session with no end
// position gets no step from it at all (the coordinator issues them).
func TestLastStageStopsAtTheEnd(t *testing.T) {
	a := &tabshardv1.Activation{SessionId: "s", Sampling: &tabshardv1.Sampling{EndPosition: 10, StopTokens: []uint32{2}, RngState: 5}}
	cases := []struct {
		tok  *tabshardv1.Token
		sm   *tabshardv1.Sampling
		want bool
	}{
		{&tabshardv1.Token{Position: 8, Id: 7}, nil, true},
		{&tabshardv1.Token{Position: 9, Id: 7}, nil, false}, // the session's last token
		{&tabshardv1.Token{Position: 5, Id: 2}, nil, false}, // a stop token
		{&tabshardv1.Token{Position: 5, Id: 7}, &tabshardv1.Sampling{}, false},
	}
	for _, c := range cases {
		in := a
		if c.sm != nil {
			in = &tabshardv1.Activation{SessionId: "s", Sampling: c.sm}
		}
		if got := nextStep(in, c.tok, 3, "w9"); (got != nil) != c.want {
			t.Errorf("token %d at %d with %v: next step %v, want %v", c.tok.GetId(), c.tok.GetPosition(), in.GetSampling(), got, c.want)
		}
	}
	next := nextStep(a, &tabshardv1.Token{Position: 4, Id: 7, RngState: 99}, 3, "w9")
	if next.GetFirstPosition() != 4 || next.GetTokens()[0] != 7 || next.GetSampling().GetRngState() != 99 || next.GetEpoch() != 3 || next.GetProducerWorkerId() != "w9" {
		t.Errorf("next step %v", next)
	}
}

// The penalties' window moves on with each token the last stage sends,
// bounded by recent_window: what the leader would fill in from the
// committed tokens.
func TestLastStageMovesThePenaltyWindow(t *testing.T) {
	a := &tabshardv1.Activation{Sampling: &tabshardv1.Sampling{EndPosition: 100, RepeatPenalty: 1.1, RecentWindow: 3, RecentTokens: []uint32{4, 5, 6}}}
	next := nextStep(a, &tabshardv1.Token{Position: 7, Id: 8}, 1, "w")
	if got := next.GetSampling().GetRecentTokens(); !equal(got, []uint32{5, 6, 8}) {
		t.Errorf("window %v, want [5 6 8]", got)
	}
	if got := a.GetSampling().GetRecentTokens(); !equal(got, []uint32{4, 5, 6}) {
		t.Errorf("the input's window changed to %v", got)
	}
}

// A run that went ahead of the committed tokens is dropped when a new
// epoch re-issues the step after the committed ones: every stage rewinds
// to it and the tokens come out the same (the generator state is the
// committed token's), and the pipeline goes on from there.
func TestNewEpochRewindsTheRunAhead(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	sm := &tabshardv1.Sampling{Temperature: 1, TopP: 0.9, RngState: 42, EndPosition: 101}
	bus.SendActivation(context.Background(), &tabshardv1.Activation{SessionId: "s1", Epoch: 1, TokenCount: 1, Tokens: []uint32{1}, Sampling: sm})
	deliver(t, bus, runners, 1)
	first := bus.tokens
	// Tokens 0..29 committed (positions 1..30); the step after them again,
	// as a new leader would issue it.
	const committed = 30
	c := first[committed-1]
	again := &tabshardv1.Sampling{Temperature: 1, TopP: 0.9, RngState: c.GetRngState(), EndPosition: 101}
	bus.tokens = nil
	bus.SendActivation(context.Background(), &tabshardv1.Activation{SessionId: "s1", Epoch: 2, FirstPosition: c.GetPosition(), TokenCount: 1,
		Tokens: []uint32{c.GetId()}, Sampling: again, ProducerWorkerId: "coordinator"})
	deliver(t, bus, runners, 2)
	if !equal(ids(bus.tokens), ids(first[committed:])) {
		t.Fatalf("after the rewind %v\nfirst run %v", ids(bus.tokens), ids(first[committed:]))
	}
	for _, tok := range bus.tokens {
		if tok.GetEpoch() != 2 {
			t.Fatalf("token at %d of epoch %d, want 2", tok.GetPosition(), tok.GetEpoch())
		}
	}
	// In the same epoch, an input below what ran is a duplicate: dropped.
	n := len(bus.tokens)
	bus.SendActivation(context.Background(), &tabshardv1.Activation{SessionId: "s1", Epoch: 2, FirstPosition: c.GetPosition(), TokenCount: 1,
		Tokens: []uint32{c.GetId()}, Sampling: again})
	deliver(t, bus, runners, 2)
	if len(bus.tokens) != n {
		t.Errorf("a duplicate in the same epoch ran again: %d tokens, want %d", len(bus.tokens), n)
	}
}
