package state_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func admit(m *state.Machine, t *testing.T) string {
	t.Helper()
	id := state.NextWorkerID(m.State())
	if err := m.Apply(&tabshardv1.Command{UnixMs: 1, Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: id, Name: "tab"}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

func plan(stages ...[]string) *tabshardv1.Plan {
	p := &tabshardv1.Plan{BlockCount: uint32(len(stages))}
	for i, ids := range stages {
		p.Stages = append(p.Stages, &tabshardv1.Stage{Index: uint32(i), LayerBegin: uint32(i), LayerEnd: uint32(i + 1), DeviceId: ids[0], StandbyDeviceIds: ids[1:]})
	}
	return p
}

func commit(p *tabshardv1.Plan, epoch uint64) *tabshardv1.Command {
	return &tabshardv1.Command{Change: &tabshardv1.Command_CommitPlan{CommitPlan: &tabshardv1.CommitPlan{Plan: p, ExpectedEpoch: epoch}}}
}

func start(id string, prompt ...uint32) *tabshardv1.Command {
	return &tabshardv1.Command{UnixMs: 5, Change: &tabshardv1.Command_StartSession{StartSession: &tabshardv1.StartSession{Session: &tabshardv1.Session{Id: id, Prompt: prompt, MaxTokens: 10}}}}
}

func token(id string, pos, tok uint32) *tabshardv1.Command {
	return &tabshardv1.Command{Change: &tabshardv1.Command_AppendToken{AppendToken: &tabshardv1.AppendToken{SessionId: id, Position: pos, Token: tok, RngState: uint64(pos) * 7}}}
}

func TestMachineLifecycle(t *testing.T) {
	m := state.NewMachine()
	a, b := admit(m, t), admit(m, t)
	if a != "w1" || b != "w2" {
		t.Fatalf("ids %s %s", a, b)
	}
	if err := m.Apply(commit(plan([]string{a, b}), 0)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cmd *tabshardv1.Command
		is  error
	}{
		{commit(plan([]string{a}), 0), state.ErrStaleEpoch},
		{commit(plan([]string{"w9"}), 1), state.ErrUnknownWorker},
		{start("s1", 1, 5), nil},
		{start("s1", 1, 5), state.ErrDuplicate},
		{start("s2"), state.ErrBadCommand},
		{start("", 1), state.ErrBadCommand},
		{token("s1", 2, 40), nil},
		{token("s1", 2, 41), state.ErrPosition}, // a duplicate position
		{token("s1", 4, 41), state.ErrPosition}, // a gap
		{token("s9", 3, 41), state.ErrUnknownSession},
		{token("s1", 3, 41), nil},
		{&tabshardv1.Command{UnixMs: 77, Change: &tabshardv1.Command_EndSession{EndSession: &tabshardv1.EndSession{SessionId: "s1", State: tabshardv1.SessionState_SESSION_STATE_DONE, FinishReason: "length"}}}, nil},
		{token("s1", 4, 42), state.ErrPosition}, // after the end
		{&tabshardv1.Command{Change: &tabshardv1.Command_Expire{Expire: &tabshardv1.ExpireWorker{WorkerId: b, State: tabshardv1.MemberState_MEMBER_STATE_EXPIRED}}}, nil},
		{&tabshardv1.Command{Change: &tabshardv1.Command_Expire{Expire: &tabshardv1.ExpireWorker{WorkerId: b, State: tabshardv1.MemberState_MEMBER_STATE_EXPIRED}}}, state.ErrDuplicate},
		{commit(plan([]string{a, b}), 1), state.ErrUnknownWorker}, // b is expired
		{&tabshardv1.Command{}, state.ErrBadCommand},
	}
	for i, s := range steps {
		before := m.State()
		err := m.Apply(s.cmd)
		if !errors.Is(err, s.is) || (s.is == nil) != (err == nil) {
			t.Fatalf("step %d: %v, want %v", i, err, s.is)
		}
		if err != nil && !proto.Equal(before, m.State()) {
			t.Fatalf("step %d: a rejected command changed the state", i)
		}
	}
	st := m.State()
	s := state.Session(st, "s1")
	if st.GetEpoch() != 1 || len(s.GetGenerated()) != 2 || s.GetSampling().GetRngState() != 21 || s.GetFinishReason() != "length" || s.GetEndedUnixMs() != 77 {
		t.Fatalf("final state %v", st)
	}
}

func TestSnapshotRestore(t *testing.T) {
	m := state.NewMachine()
	admit(m, t)
	m.Apply(start("s1", 1, 2, 3))
	m.Apply(token("s1", 3, 9))
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	n := state.NewMachine()
	if err := n.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.State(), n.State()) {
		t.Fatal("restored state differs")
	}
	if err := n.Restore([]byte{0xff, 0xff}); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
}

// AppendTokens commits, in one command, each token at its session's next
// position, in order, across sessions, and skips duplicates, gaps, unknown
// and ended sessions: the batch's good tokens commit, the rest change
// nothing.
func TestAppendTokensCommitsEachAtItsPosition(t *testing.T) {
	m := state.NewMachine()
	a := admit(m, t)
	for _, c := range []*tabshardv1.Command{commit(plan([]string{a}), 0), start("s1", 1), start("s2", 1, 2), start("s3", 1)} {
		if err := m.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	end := &tabshardv1.Command{Change: &tabshardv1.Command_EndSession{EndSession: &tabshardv1.EndSession{SessionId: "s3", State: tabshardv1.SessionState_SESSION_STATE_DONE, FinishReason: "stop"}}}
	if err := m.Apply(end); err != nil {
		t.Fatal(err)
	}
	at := func(id string, pos, tok uint32) *tabshardv1.AppendToken {
		return &tabshardv1.AppendToken{SessionId: id, Position: pos, Token: tok, RngState: uint64(tok)}
	}
	batch := &tabshardv1.Command{Change: &tabshardv1.Command_AppendTokens{AppendTokens: &tabshardv1.AppendTokens{Tokens: []*tabshardv1.AppendToken{
		at("s1", 1, 10), at("s2", 2, 20), at("s1", 2, 11), // in order, two sessions
		at("s1", 2, 99), // a duplicate position
		at("s2", 4, 99), // a gap
		at("s9", 1, 99), // an unknown session
		at("s3", 1, 99), // an ended one
		at("s2", 3, 21),
	}}}}
	if err := m.Apply(batch); err != nil {
		t.Fatal(err)
	}
	st := m.State()
	for id, want := range map[string][]uint32{"s1": {10, 11}, "s2": {20, 21}, "s3": nil} {
		s := state.Session(st, id)
		if got := s.GetGenerated(); len(got) != len(want) || (len(want) > 0 && (got[0] != want[0] || got[1] != want[1])) {
			t.Errorf("%s generated %v, want %v", id, got, want)
		}
	}
	if got := state.Session(st, "s1").GetSampling().GetRngState(); got != 11 {
		t.Errorf("s1's generator state %d, want the last committed token's (11)", got)
	}
}
