package state_test

import (
	"errors"
	"slices"
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

// Capabilities of the workers in the link tests.
var (
	native  = &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU}
	bc      = tabshardv1.Link_LINK_BROADCAST_CHANNEL
	rtc     = tabshardv1.Link_LINK_WEBRTC
	natsHop = tabshardv1.Link_LINK_NATS
)

func tabIn(browser string, links ...tabshardv1.Link) *tabshardv1.Capabilities {
	return &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU, BrowserId: browser, Links: links}
}

func admitWith(t *testing.T, m *state.Machine, caps *tabshardv1.Capabilities) string {
	t.Helper()
	id := state.NextWorkerID(m.State())
	if err := m.Apply(&tabshardv1.Command{UnixMs: 1, Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: id, Name: "w", Capabilities: caps}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

func links(p *tabshardv1.Plan) []tabshardv1.Link {
	var out []tabshardv1.Link
	for _, s := range p.GetStages() {
		out = append(out, s.GetLink())
	}
	return out
}

// inOrder plans one stage per device, in order, with no standbys.
func inOrder(devs []*tabshardv1.Device) (*tabshardv1.Plan, error) {
	var ids [][]string
	for _, d := range devs {
		ids = append(ids, []string{d.GetId()})
	}
	return plan(ids...), nil
}

// The first plan's links come from the workers at both ends of each hop.
func TestPlacementLinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers []*tabshardv1.Capabilities
		want    []tabshardv1.Link
	}{
		{"tabs of one browser", []*tabshardv1.Capabilities{tabIn("b1", bc, rtc), tabIn("b1", bc, rtc), tabIn("b1", bc, rtc)}, []tabshardv1.Link{natsHop, bc, bc}},
		{"tabs of two browsers", []*tabshardv1.Capabilities{tabIn("b1", bc, rtc), tabIn("b1", bc, rtc), tabIn("b2", bc, rtc)}, []tabshardv1.Link{natsHop, bc, rtc}},
		{"native and tab", []*tabshardv1.Capabilities{native, tabIn("b1", bc, rtc), native}, []tabshardv1.Link{natsHop, natsHop, natsHop}},
		{"one browser, one end without BroadcastChannel", []*tabshardv1.Capabilities{tabIn("b1", bc, rtc), tabIn("b1", rtc)}, []tabshardv1.Link{natsHop, rtc}},
		{"no browser id: no BroadcastChannel", []*tabshardv1.Capabilities{tabIn("", bc), tabIn("", bc)}, []tabshardv1.Link{natsHop, natsHop}},
		{"two browsers, one end without WebRTC", []*tabshardv1.Capabilities{tabIn("b1", bc, rtc), tabIn("b2", bc)}, []tabshardv1.Link{natsHop, natsHop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := state.NewMachine()
			for _, c := range tc.workers {
				admitWith(t, m, c)
			}
			c := decideAndApply(t, m, state.Placement{Plan: inOrder, MinWorkers: len(tc.workers)})
			if got := links(c.GetPlan()); !slices.Equal(got, tc.want) {
				t.Errorf("links %v, want %v", got, tc.want)
			}
			if again := decideAndApply(t, m, state.Placement{Plan: inOrder}); again != nil {
				t.Errorf("a plan whose links are set was changed again: %v", links(again.GetPlan()))
			}
		})
	}
}

// A failover changes who sits at each end of a hop: the links follow, and
// the standbys keep their order.
func TestPlacementFailoverRelinks(t *testing.T) {
	m := state.NewMachine()
	w1, w2, w3 := admitWith(t, m, tabIn("b1", bc, rtc)), admitWith(t, m, tabIn("b1", bc, rtc)), admitWith(t, m, tabIn("b1", bc, rtc))
	w4, w5, w6 := admitWith(t, m, native), admitWith(t, m, tabIn("b2", bc, rtc)), admitWith(t, m, native)
	// Stage 1's first standby is a native worker, its second a tab.
	if err := m.Apply(commit(plan([]string{w1, w6}, []string{w2, w4, w5}, []string{w3}), 0)); err != nil {
		t.Fatal(err)
	}
	p := state.Placement{Standbys: 1}
	c := decideAndApply(t, m, p)
	if got, want := links(c.GetPlan()), []tabshardv1.Link{natsHop, bc, bc}; !slices.Equal(got, want) || len(c.GetFailovers()) != 0 {
		t.Fatalf("a plan without links: %v, failovers %v; want links %v and no failover", got, c.GetFailovers(), want)
	}
	m.Apply(expireCmd(w2))
	c = decideAndApply(t, m, p)
	st := m.State().GetPlan().GetStages()
	if st[1].GetDeviceId() != w4 || len(c.GetFailovers()) != 1 {
		t.Fatalf("stage 1 went to %s (failovers %v), want %s", st[1].GetDeviceId(), c.GetFailovers(), w4)
	}
	if got, want := links(m.State().GetPlan()), []tabshardv1.Link{natsHop, natsHop, natsHop}; !slices.Equal(got, want) {
		t.Errorf("links after stage 1 moved to a native worker: %v, want %v", got, want)
	}
	for i, want := range [][]string{{w6}, {w5}, {}} {
		if got := st[i].GetStandbyDeviceIds(); !slices.Equal(got, want) {
			t.Errorf("stage %d standbys %v, want %v", i, got, want)
		}
	}
	// The native worker goes too: the tab of another browser takes stage 1
	// over; both its hops are WebRTC.
	m.Apply(expireCmd(w4))
	decideAndApply(t, m, p)
	if got, want := links(m.State().GetPlan()), []tabshardv1.Link{natsHop, rtc, rtc}; !slices.Equal(got, want) {
		t.Errorf("links after stage 1 moved to browser b2: %v, want %v", got, want)
	}
}

// With MinWorkers 0 the first plan waits until no worker has joined for
// PlanWaitMs (tabs join one by one), then plans over every worker present;
// a worker that joins after the plan becomes a standby, not idle.
func TestPlacementWaitsForTabsThenPlansOverAll(t *testing.T) {
	m := state.NewMachine()
	var planned []string
	p := state.Placement{PlanWaitMs: 3000, Plan: func(devs []*tabshardv1.Device) (*tabshardv1.Plan, error) {
		planned = nil
		ids := make([][]string, len(devs))
		for i, d := range devs {
			planned = append(planned, d.GetId())
			ids[i] = []string{d.GetId()}
		}
		return plan(ids...), nil
	}}
	if w := p.WaitingFor(m.State()); w == "" {
		t.Error("WaitingFor says nothing with no worker")
	}
	admit(m, t) // joined at 1 ms
	for _, now := range []int64{1, 2000, 3000} {
		if c, err := p.Decide(m.State(), now); c != nil || err != nil {
			t.Fatalf("at %d ms: planned %v (%v) before the wait was over", now, c, err)
		}
		admit(m, t)
	}
	c, err := p.Decide(m.State(), 3001)
	if err != nil || c == nil || len(c.GetPlan().GetStages()) != 4 || !slices.Equal(planned, []string{"w1", "w2", "w3", "w4"}) {
		t.Fatalf("after the wait: %v (%v), planned over %v", c, err, planned)
	}
	if err := m.Apply(&tabshardv1.Command{Change: &tabshardv1.Command_CommitPlan{CommitPlan: c}}); err != nil {
		t.Fatal(err)
	}
	if w := p.WaitingFor(m.State()); w != "" {
		t.Errorf("WaitingFor with a plan: %q", w)
	}
	late := admit(m, t)
	decideAndApply(t, m, p)
	st := m.State()
	if got := st.GetPlan().GetStages()[0].GetStandbyDeviceIds(); !slices.Equal(got, []string{late}) || len(st.GetPlan().GetUnusedDeviceIds()) != 0 {
		t.Fatalf("a late worker: stage 0 standbys %v, unused %v", got, st.GetPlan().GetUnusedDeviceIds())
	}
}

func admitAt(t *testing.T, m *state.Machine, ms int64) {
	t.Helper()
	id := state.NextWorkerID(m.State())
	if err := m.Apply(&tabshardv1.Command{UnixMs: ms, Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: id, Name: "tab"}}}); err != nil {
		t.Fatal(err)
	}
}

// The first plan's wait restarts with every join (tabs compiling their wasm
// join seconds apart on a busy machine), but not for ever.
func TestPlacementPlanWaitIsAQuietPeriod(t *testing.T) {
	p := state.Placement{PlanWaitMs: 3000, Plan: func(devs []*tabshardv1.Device) (*tabshardv1.Plan, error) {
		return plan([]string{devs[0].GetId()}), nil
	}}
	ready := func(m *state.Machine, now int64) bool {
		c, err := p.Decide(m.State(), now)
		if err != nil {
			t.Fatal(err)
		}
		return c != nil
	}
	m := state.NewMachine()
	for _, at := range []int64{0, 2000, 4000} {
		admitAt(t, m, at)
	}
	if ready(m, 6999) || !ready(m, 7000) {
		t.Errorf("joins at 0, 2 and 4 s: ready at 6.999 s %v, at 7 s %v; want 3 s after the last join", ready(m, 6999), ready(m, 7000))
	}
	m = state.NewMachine()
	for at := int64(0); at <= 30000; at += 2000 {
		admitAt(t, m, at)
	}
	if ready(m, 29999) || !ready(m, 30000) {
		t.Errorf("a join every 2 s: ready at 29.999 s %v, at 30 s %v; want at most 10 waits after the first", ready(m, 29999), ready(m, 30000))
	}
}
