package coordinator

import (
	"context"
	"testing"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// A stalled step needs a new epoch only where the pipeline may have run
// past what committed: at once when tokens came past the next position,
// after stallsBeforeNewEpoch step timeouts in a row once the session has
// tokens, and never during its prompt (a long prefill is not restarted).
func TestStalledStepNeedsANewEpochOnlyWhenRunAhead(t *testing.T) {
	l := &leader{ahead: map[string]bool{}, stalls: map[string]int{}}
	prompt := &tabshardv1.Session{Id: "p", Prompt: []uint32{1, 2}}
	for i := range 2 * stallsBeforeNewEpoch {
		if l.ranAhead(prompt) {
			t.Fatalf("stall %d of a session in its prefill: new epoch", i+1)
		}
	}
	decoding := &tabshardv1.Session{Id: "d", Prompt: []uint32{1}, Generated: []uint32{5}}
	for i := range stallsBeforeNewEpoch {
		if got, want := l.ranAhead(decoding), i == stallsBeforeNewEpoch-1; got != want {
			t.Fatalf("stall %d of a decoding session: new epoch %v, want %v", i+1, got, want)
		}
	}
	if l.ranAhead(decoding) {
		t.Errorf("the count starts again after a new epoch")
	}
	l.ahead["p"] = true
	if !l.ranAhead(prompt) {
		t.Errorf("a session whose tokens came past its next position: no new epoch")
	}
}

// fakeNode applies commands to a state machine at once: a one-node Raft
// that always leads.
type fakeNode struct{ m *state.Machine }

func (n fakeNode) Apply(_ context.Context, cmd *tabshardv1.Command) error { return n.m.Apply(cmd) }
func (fakeNode) IsLeader() bool                                           { return false }
func (fakeNode) AddVoter(context.Context, string, string) error           { return nil }

// leadingOnce leads for its first question only: commitTokens goes ahead,
// and announce, which needs a bus, stays quiet.
type leadingOnce struct {
	fakeNode
	asked *int
}

func (n leadingOnce) IsLeader() bool {
	*n.asked++
	return *n.asked == 1
}

// stepsSent records the steps a leader issues.
type stepsSent struct{ acts []*tabshardv1.Activation }

func (s *stepsSent) Publish(_ context.Context, a *tabshardv1.Activation) error {
	s.acts = append(s.acts, a)
	return nil
}
func (*stepsSent) DeleteSession(context.Context, string) error { return nil }

// A session whose last token committed but whose end did not (the leader
// that committed it lost its leadership before ending it) is ended by the
// next leader: a token past its length is not committed, and no step is
// issued for it.
func TestSessionAtItsLengthEndsNotOneMoreToken(t *testing.T) {
	m := state.NewMachine()
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	steps := &stepsSent{}
	l := newLeader(&cfg, fakeNode{m}, m, nil, bus.Subjects{Cluster: "t"}, steps, state.Placement{}, "", api.NewMetrics())
	for _, c := range []*tabshardv1.Command{
		{Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: "w1"}}},
		{Change: &tabshardv1.Command_CommitPlan{CommitPlan: &tabshardv1.CommitPlan{Plan: &tabshardv1.Plan{ContextLength: 64, Stages: []*tabshardv1.Stage{{DeviceId: "w1"}}}}}},
		{Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{Session: &tabshardv1.Session{Id: "s", Prompt: []uint32{1, 2}, MaxTokens: 2}}}},
		{Change: &tabshardv1.Command_AppendTokens{AppendTokens: &tabshardv1.AppendTokens{Tokens: []*tabshardv1.AppendToken{
			{SessionId: "s", Position: 2, Token: 7}, {SessionId: "s", Position: 3, Token: 8}}}}},
	} {
		if err := m.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	l.issue(context.Background(), state.Session(m.State(), "s"))
	if len(steps.acts) != 0 {
		t.Errorf("a step was issued for a session at its length: %v", steps.acts)
	}
	if s := state.Session(m.State(), "s"); s.GetState() != tabshardv1.SessionState_SESSION_STATE_DONE || s.GetFinishReason() != "length" {
		t.Errorf("session %s %q, want done, length", s.GetState(), s.GetFinishReason())
	}

	// The same, found by commitTokens: the token past the length is dropped.
	if err := m.Apply(&tabshardv1.Command{Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{
		Session: &tabshardv1.Session{Id: "r", Prompt: []uint32{1}, MaxTokens: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(&tabshardv1.Command{Change: &tabshardv1.Command_AppendToken{AppendToken: &tabshardv1.AppendToken{SessionId: "r", Position: 1, Token: 7}}}); err != nil {
		t.Fatal(err)
	}
	l.node = leadingOnce{fakeNode{m}, new(int)}
	l.commitTokens(context.Background(), []*tabshardv1.Token{{SessionId: "r", Epoch: m.State().GetEpoch(), Position: 2, Id: 9, ProducerWorkerId: "w1"}})
	if s := state.Session(m.State(), "r"); len(s.GetGenerated()) != 1 || s.GetState() != tabshardv1.SessionState_SESSION_STATE_DONE {
		t.Errorf("session r: %d tokens, %s; want 1, done", len(s.GetGenerated()), s.GetState())
	}
}
