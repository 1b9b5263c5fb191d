package agent

import (
	"context"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// session is one generation the batch test drives.
type session struct {
	id       string
	prompt   []uint32
	steps    int
	sampling *tabshardv1.Sampling
}

func mixedSessions(n int) []session {
	var out []session
	for i := range n {
		s := session{id: fmt.Sprintf("s%d", i), prompt: []uint32{1}, steps: 20 + 7*(i%5), sampling: &tabshardv1.Sampling{}}
		for j := range i % 4 {
			s.prompt = append(s.prompt, uint32(30+11*i+j))
		}
		if i%2 == 1 {
			s.sampling = &tabshardv1.Sampling{Temperature: 0.9, TopP: 0.9, RngState: uint64(100 + i)}
		}
		if i%3 == 2 { // the rest of what a draw may ask: bias, a penalty, log-probabilities
			s.sampling.LogitBias = []*tabshardv1.LogitBias{{Token: 261, Bias: 2}}
			s.sampling.PresencePenalty = 0.5
			s.sampling.Logprobs, s.sampling.TopLogprobs = true, 3
		}
		out = append(out, s)
	}
	return out
}

// driveAll plays the coordinator for many sessions at once: every queued
// message of a stage is handed to it in one HandleAll, as a worker that
// found them waiting does (alone: one at a time through Handle, the path
// of a lone step). It returns each session's tokens and the
// largest batch a stage reported.
func driveAll(t *testing.T, runners []*Runner, bus *memBus, sessions []session, alone bool) (map[string][]uint32, int) {
	t.Helper()
	ctx := context.Background()
	out := map[string][]uint32{}
	lps := map[string][]float32{}
	byID := map[string]session{}
	for _, s := range sessions {
		byID[s.id] = s
		bus.SendActivation(ctx, &tabshardv1.Activation{SessionId: s.id, Epoch: 1, TokenCount: uint32(len(s.prompt)), Tokens: s.prompt, Sampling: s.sampling})
	}
	largest := 0
	for len(bus.queue) > 0 {
		for stage, r := range runners {
			var mine, rest []*tabshardv1.Activation
			for _, a := range bus.queue {
				if int(a.GetStage()) == stage {
					mine = append(mine, a)
				} else {
					rest = append(rest, a)
				}
			}
			bus.queue = rest
			if alone { // the reference: one input at a time, the path of a lone step
				for _, a := range mine {
					if err := r.Handle(ctx, a, 1); err != nil {
						t.Fatalf("stage %d session %s: %v", stage, a.GetSessionId(), err)
					}
				}
				continue
			}
			r.HandleAll(ctx, mine, 1, func(a *tabshardv1.Activation, err error) {
				t.Fatalf("stage %d session %s: %v", stage, a.GetSessionId(), err)
			})
		}
		for _, tok := range bus.tokens {
			for _, b := range tok.GetStageBatch() {
				largest = max(largest, int(b))
			}
			s := byID[tok.GetSessionId()]
			out[s.id] = append(out[s.id], tok.GetId())
			if s.sampling.GetLogprobs() {
				if tok.GetLogprobs() == nil || len(tok.GetLogprobs().GetTop()) != 3 {
					t.Fatalf("session %s asked for log-probabilities and got %v", s.id, tok.GetLogprobs())
				}
				lps[s.id] = append(lps[s.id], tok.GetLogprobs().GetLogprob())
			}
			if len(out[s.id]) < s.steps {
				next := proto.Clone(s.sampling).(*tabshardv1.Sampling)
				next.RngState = tok.GetRngState()
				next.RecentTokens = append(append([]uint32(nil), s.prompt...), out[s.id]...)
				bus.SendActivation(ctx, &tabshardv1.Activation{SessionId: s.id, Epoch: 1, FirstPosition: tok.GetPosition(), TokenCount: 1,
					Tokens: []uint32{tok.GetId()}, Sampling: next})
			}
		}
		bus.tokens = nil
	}
	for id, l := range lps { // log-probabilities go with the tokens: compare them too
		for _, p := range l {
			out[id] = append(out[id], math.Float32bits(p))
		}
	}
	return out, largest
}

// TestBatchedRunnersKeepText: sessions of mixed prompts, lengths, greedy
// and seeded sampling, run together through a three-stage pipeline whose
// stages batch them, give each session the text it gets alone.
func TestBatchedRunnersKeepText(t *testing.T) {
	m := stories(t)
	for _, n := range []int{1, 3, 12} {
		sessions := mixedSessions(n)
		bus := &memBus{}
		runners := pipeline(t, m, bus)
		for _, r := range runners {
			r.MaxSessions = n
		}
		got, largest := driveAll(t, runners, bus, sessions, false)
		if n > 1 && largest < 2 {
			t.Fatalf("%d sessions: no stage ran a batch of more than one", n)
		}
		for _, s := range sessions {
			solo := &memBus{}
			want, _ := driveAll(t, pipeline(t, m, solo), solo, []session{s}, true)
			if !equal(got[s.id], want[s.id]) || len(want[s.id]) < s.steps {
				t.Fatalf("%d sessions: %s batched %v\nalone %v", n, s.id, got[s.id], want[s.id])
			}
		}
	}
}

// greedyBatchStage is a CPU stage that batches and picks greedy tokens
// itself, as the WebGPU stage does.
type greedyBatchStage struct {
	*greedyStage
	b Batcher
}

func (s *greedyBatchStage) ForwardBatch(steps []Step, x []float32) error {
	return s.b.ForwardBatch(steps, x)
}

// TestBatchedLastStageUsesGreedy: a batching last stage that picks greedy
// tokens itself is asked for every plain greedy token (only indices leave
// it), and samples the others from logits; every text is the solo one.
func TestBatchedLastStageUsesGreedy(t *testing.T) {
	m := stories(t)
	sessions := mixedSessions(6)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	for _, r := range runners {
		r.MaxSessions = len(sessions)
	}
	g := &greedyStage{Compute: runners[2].Stage}
	runners[2].Stage = &greedyBatchStage{greedyStage: g, b: runners[2].Stage.(Batcher)}
	got, largest := driveAll(t, runners, bus, sessions, false)
	if largest < 2 {
		t.Fatal("no stage ran a batch of more than one")
	}
	plain := 0
	for _, s := range sessions {
		solo := &memBus{}
		want, _ := driveAll(t, pipeline(t, m, solo), solo, []session{s}, true)
		if !equal(got[s.id], want[s.id]) {
			t.Fatalf("%s batched %v\nalone %v", s.id, got[s.id], want[s.id])
		}
		if sm := s.sampling; sm.GetTemperature() == 0 && !sm.GetLogprobs() && len(sm.GetLogitBias()) == 0 && sm.GetPresencePenalty() == 0 {
			plain += len(want[s.id])
		}
	}
	if plain == 0 || g.rows != plain || g.calls >= g.rows {
		t.Fatalf("Greedy picked %d tokens in %d calls; want the %d plain greedy ones, in batches", g.rows, g.calls, plain)
	}
}

// embedBatchStage is a CPU stage that batches and embeds in its forward
// pass, as the WebGPU stage does.
type embedBatchStage struct {
	*embedForwardStage
	b Batcher
}

func (s *embedBatchStage) ForwardBatch(steps []Step, x []float32) error {
	return s.b.ForwardBatch(steps, x)
}

// TestBatchedFirstStageEmbedForward: a batching first stage that embeds in
// its forward pass gets a lone one-token step through EmbedForward and
// the others looked up and batched; every text is the solo one.
func TestBatchedFirstStageEmbedForward(t *testing.T) {
	m := stories(t)
	for _, n := range []int{1, 6} {
		sessions := mixedSessions(n)
		bus := &memBus{}
		runners := pipeline(t, m, bus)
		for _, r := range runners {
			r.MaxSessions = n
		}
		e := &embedForwardStage{Compute: runners[0].Stage}
		runners[0].Stage = &embedBatchStage{embedForwardStage: e, b: runners[0].Stage.(Batcher)}
		got, largest := driveAll(t, runners, bus, sessions, false)
		if n > 1 && largest < 2 {
			t.Fatalf("%d sessions: no stage ran a batch of more than one", n)
		}
		for _, s := range sessions {
			solo := &memBus{}
			want, _ := driveAll(t, pipeline(t, m, solo), solo, []session{s}, true)
			if !equal(got[s.id], want[s.id]) {
				t.Fatalf("%d sessions: %s batched %v\nalone %v", n, s.id, got[s.id], want[s.id])
			}
		}
		// One session, whose prompt is one token: every step is a lone
		// one-token step.
		if want := sessions[0].steps; n == 1 && (len(sessions[0].prompt) != 1 || e.calls != want) {
			t.Fatalf("one session: %d calls to EmbedForward for %d one-token steps", e.calls, want)
		}
	}
}
