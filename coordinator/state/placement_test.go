package state_test

import (
	"errors"
	"testing"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// splitEvenly is a stand-in PlanFunc: two stages on the first two devices,
// the rest standbys in turn.
func splitEvenly(devs []*tabshardv1.Device) (*tabshardv1.Plan, error) {
	p := plan([]string{devs[0].GetId()}, []string{devs[1].GetId()})
	for i, d := range devs[2:] {
		s := p.Stages[i%2]
		s.StandbyDeviceIds = append(s.StandbyDeviceIds, d.GetId())
	}
	return p, nil
}

func expireCmd(id string) *tabshardv1.Command {
	return &tabshardv1.Command{Change: &tabshardv1.Command_Expire{Expire: &tabshardv1.ExpireWorker{WorkerId: id, State: tabshardv1.MemberState_MEMBER_STATE_EXPIRED}}}
}

func decideAndApply(t *testing.T, m *state.Machine, p state.Placement) *tabshardv1.CommitPlan {
	t.Helper()
	c, err := p.Decide(m.State(), 99)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		if err := m.Apply(&tabshardv1.Command{Change: &tabshardv1.Command_CommitPlan{CommitPlan: c}}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestPlacementFailover(t *testing.T) {
	m := state.NewMachine()
	p := state.Placement{Plan: splitEvenly, MinWorkers: 3, Standbys: 1}
	admit(m, t)
	admit(m, t)
	if c := decideAndApply(t, m, p); c != nil {
		t.Fatal("planned before MinWorkers joined")
	}
	admit(m, t) // w3: standby of stage 0
	decideAndApply(t, m, p)
	st := m.State()
	if st.GetEpoch() != 1 || st.Plan.Stages[0].GetStandbyDeviceIds()[0] != "w3" {
		t.Fatalf("first plan %v", st.Plan)
	}
	if c := decideAndApply(t, m, p); c != nil {
		t.Fatal("a healthy plan was changed")
	}
	// A new worker fills stage 1's empty standby slot.
	admit(m, t)
	decideAndApply(t, m, p)
	if got := m.State().Plan.Stages[1].GetStandbyDeviceIds(); len(got) != 1 || got[0] != "w4" {
		t.Fatalf("stage 1 standbys %v", got)
	}
	// Stage 0's primary dies: its standby takes over, other stages stay.
	m.Apply(expireCmd("w1"))
	c := decideAndApply(t, m, p)
	st = m.State()
	if st.Plan.Stages[0].GetDeviceId() != "w3" || st.Plan.Stages[1].GetDeviceId() != "w2" || len(c.GetFailovers()) != 1 {
		t.Fatalf("after failover %v", st.Plan)
	}
	if f := st.Failovers[0]; f.GetFromWorkerId() != "w1" || f.GetToWorkerId() != "w3" || f.GetEpoch() != 3 {
		t.Fatalf("failover record %v", f)
	}
	// Stage 1's primary and its standby die; no idle worker is left.
	m.Apply(expireCmd("w2"))
	m.Apply(expireCmd("w4"))
	if _, err := p.Decide(m.State(), 100); !errors.Is(err, state.ErrNoCandidate) {
		t.Fatalf("decide with nobody left: %v", err)
	}
	// A newcomer is assigned to the orphaned stage.
	admit(m, t)
	decideAndApply(t, m, p)
	if got := m.State().Plan.Stages[1].GetDeviceId(); got != "w5" {
		t.Fatalf("orphaned stage went to %q", got)
	}
}

// A standby that is also another stage's primary is never promoted: a
// worker runs one stage at a time.
func TestPlacementSkipsBusyStandby(t *testing.T) {
	m := state.NewMachine()
	for range 4 {
		admit(m, t)
	}
	// w2 is stage 1's primary and also stands by for stage 0; w4 stands by
	// for stage 2.
	p := plan([]string{"w1", "w2"}, []string{"w2"}, []string{"w3", "w4"})
	if err := m.Apply(commit(p, 0)); err != nil {
		t.Fatal(err)
	}
	m.Apply(expireCmd("w1"))
	c, err := state.Placement{Standbys: 1}.Decide(m.State(), 1)
	if err != nil {
		t.Fatal(err)
	}
	got := c.GetPlan().GetStages()
	if got[0].GetDeviceId() != "w4" || got[1].GetDeviceId() != "w2" {
		t.Fatalf("stage 0 went to %s, stage 1 is %s", got[0].GetDeviceId(), got[1].GetDeviceId())
	}
	for _, s := range got {
		for _, sb := range s.GetStandbyDeviceIds() {
			if sb == "w4" {
				t.Fatalf("w4 is still a standby of stage %d", s.GetIndex())
			}
		}
	}
}
