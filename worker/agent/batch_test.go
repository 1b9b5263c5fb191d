package agent

import (
	"context"
	"fmt"
	"testing"

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
		out = append(out, s)
	}
	return out
}

// driveAll plays the coordinator for many sessions at once: every queued
// message of a stage is handed to it in one HandleAll, as a worker that
// found them waiting does. It returns each session's tokens and the
// largest batch a stage reported.
func driveAll(t *testing.T, runners []*Runner, bus *memBus, sessions []session) (map[string][]uint32, int) {
	t.Helper()
	ctx := context.Background()
	out := map[string][]uint32{}
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
			if len(out[s.id]) < s.steps {
				bus.SendActivation(ctx, &tabshardv1.Activation{SessionId: s.id, Epoch: 1, FirstPosition: tok.GetPosition(), TokenCount: 1,
					Tokens: []uint32{tok.GetId()}, Sampling: &tabshardv1.Sampling{Temperature: s.sampling.GetTemperature(), TopP: s.sampling.GetTopP(), RngState: tok.GetRngState()}})
			}
		}
		bus.tokens = nil
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
		got, largest := driveAll(t, runners, bus, sessions)
		if n > 1 && largest < 2 {
			t.Fatalf("%d sessions: no stage ran a batch of more than one", n)
		}
		for _, s := range sessions {
			solo := &memBus{}
			want, _ := driveAll(t, pipeline(t, m, solo), solo, []session{s})
			if !equal(got[s.id], want[s.id]) || len(want[s.id]) != s.steps {
				t.Fatalf("%d sessions: %s batched %v\nalone %v", n, s.id, got[s.id], want[s.id])
			}
		}
	}
}
