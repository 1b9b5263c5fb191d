package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// ErrNoCandidate is a stage whose worker is gone with no worker left to
// take it over.
var ErrNoCandidate = errors.New("no worker can take the stage over")

// PlanFunc makes a fresh plan for devices (in pipeline order).
type PlanFunc func(devices []*tabshardv1.Device) (*tabshardv1.Plan, error)

// Placement is what the leader needs to decide plans.
type Placement struct {
	// Plan makes the first plan.
	Plan PlanFunc
	// MinWorkers is how many active workers the first plan waits for; 0
	// waits until no worker has joined for PlanWaitMs instead (tabs join
	// one by one), then plans over every worker present.
	MinWorkers int
	// PlanWaitMs is how long the first plan waits for another worker to
	// join, when MinWorkers is 0; it waits at most maxPlanWaits times that
	// after the first one joined.
	PlanWaitMs int64
	// Standbys is how many standbys each stage should have.
	Standbys int
}

// Active lists the active members in the order they joined.
func Active(st *tabshardv1.ClusterState) []*tabshardv1.Member {
	var out []*tabshardv1.Member
	for _, m := range st.GetMembers() {
		if m.GetState() == tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
			out = append(out, m)
		}
	}
	return out
}

// Devices describes members as planner devices.
func Devices(members []*tabshardv1.Member) []*tabshardv1.Device {
	out := make([]*tabshardv1.Device, len(members))
	for i, m := range members {
		out[i] = &tabshardv1.Device{Id: m.GetWorkerId(), Capabilities: m.GetCapabilities()}
	}
	return out
}

// Decide returns the plan the leader should commit next for st, or nil when
// the current plan stands. Without a plan it waits for MinWorkers active
// workers and plans over them. With one, it repairs it: a stage whose
// worker is no longer active goes to its first active standby (else to a
// worker with no role), and stages short of standbys get idle workers. It
// never moves a stage whose worker is still active. Either way it sets
// each stage's link from the workers at both ends (SetLinks); a link that
// changes is a change to commit.
func (p Placement) Decide(st *tabshardv1.ClusterState, now int64) (*tabshardv1.CommitPlan, error) {
	active := Active(st)
	if st.GetPlan() == nil {
		if !p.readyToPlan(active, now) {
			return nil, nil
		}
		plan, err := p.Plan(Devices(active))
		if err != nil {
			return nil, err
		}
		SetLinks(plan, st.GetMembers())
		return &tabshardv1.CommitPlan{Plan: plan, ExpectedEpoch: st.GetEpoch()}, nil
	}
	plan := proto.Clone(st.GetPlan()).(*tabshardv1.Plan)
	r := repair{plan: plan, active: map[string]bool{}, now: now}
	for _, m := range active {
		r.active[m.GetWorkerId()] = true
		r.order = append(r.order, m.GetWorkerId())
	}
	if err := r.primaries(); err != nil {
		return nil, err
	}
	// A worker that joins after the plan is a standby rather than idle: one
	// per stage at least, Standbys where more are asked for.
	r.standbys(max(p.Standbys, 1))
	if SetLinks(plan, st.GetMembers()) {
		r.changed = true
	}
	if !r.changed {
		return nil, nil
	}
	r.unused()
	return &tabshardv1.CommitPlan{Plan: plan, Failovers: r.events, ExpectedEpoch: st.GetEpoch()}, nil
}

// maxPlanWaits bounds the first plan's wait when workers keep joining: at
// most this many PlanWaitMs after the first one.
const maxPlanWaits = 10

// readyToPlan reports whether the first plan should be made over active
// now: MinWorkers of them are there, or (MinWorkers 0) none has joined for
// PlanWaitMs, or the first joined maxPlanWaits of those ago.
func (p Placement) readyToPlan(active []*tabshardv1.Member, now int64) bool {
	if len(active) == 0 {
		return false
	}
	if p.MinWorkers > 0 {
		return len(active) >= p.MinWorkers
	}
	first, last := active[0].GetJoinedUnixMs(), active[0].GetJoinedUnixMs()
	for _, m := range active[1:] {
		first, last = min(first, m.GetJoinedUnixMs()), max(last, m.GetJoinedUnixMs())
	}
	return now-last >= p.PlanWaitMs || now-first >= maxPlanWaits*p.PlanWaitMs
}

// WaitingFor says what the first plan waits for, for a status line: ""
// when there is a plan or nothing to wait for.
func (p Placement) WaitingFor(st *tabshardv1.ClusterState) string {
	if st.GetPlan() != nil {
		return ""
	}
	n := len(Active(st))
	if p.MinWorkers > 0 {
		return fmt.Sprintf("%d of %d workers joined", n, p.MinWorkers)
	}
	if n == 0 {
		return "no worker has joined: open a worker tab or start a worker"
	}
	return fmt.Sprintf("%d worker(s) joined; planning over every worker present once none has joined for %d ms", n, p.PlanWaitMs)
}

// StageGaps says which stages of st's plan have no active worker, for a
// client whose session waits on them: "stage 2 has no worker (w3 left)".
// It is empty when every stage has one (or there is no plan).
func StageGaps(st *tabshardv1.ClusterState) []string {
	var gaps []string
	for _, s := range st.GetPlan().GetStages() {
		m := Member(st, s.GetDeviceId())
		if m != nil && m.GetState() == tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
			continue
		}
		why := "is gone"
		if m != nil {
			why = strings.ToLower(strings.TrimPrefix(m.GetState().String(), "MEMBER_STATE_"))
		}
		gaps = append(gaps, fmt.Sprintf("stage %d has no worker (%s %s)", s.GetIndex(), s.GetDeviceId(), why))
	}
	return gaps
}

// HopLink is the link between the workers of two consecutive stages, from
// what each reported when it joined: BroadcastChannel between two tabs of
// one browser profile that both offer it, else WebRTC when both offer it,
// else NATS alone.
func HopLink(from, to *tabshardv1.Capabilities) tabshardv1.Link {
	both := func(l tabshardv1.Link) bool {
		return slices.Contains(from.GetLinks(), l) && slices.Contains(to.GetLinks(), l)
	}
	switch {
	case from.GetBrowserId() != "" && from.GetBrowserId() == to.GetBrowserId() && both(tabshardv1.Link_LINK_BROADCAST_CHANNEL):
		return tabshardv1.Link_LINK_BROADCAST_CHANNEL
	case both(tabshardv1.Link_LINK_WEBRTC):
		return tabshardv1.Link_LINK_WEBRTC
	}
	return tabshardv1.Link_LINK_NATS
}

// SetLinks sets every stage's link: NATS into the first stage (its input is
// the sampled token), HopLink of the previous stage's worker and its own
// into the others. members are looked up by worker id; a worker missing
// from them offers no direct link. It reports whether any link changed.
func SetLinks(plan *tabshardv1.Plan, members []*tabshardv1.Member) bool {
	caps := make(map[string]*tabshardv1.Capabilities, len(members))
	for _, m := range members {
		caps[m.GetWorkerId()] = m.GetCapabilities()
	}
	changed := false
	for i, s := range plan.GetStages() {
		link := tabshardv1.Link_LINK_NATS
		if i > 0 {
			link = HopLink(caps[plan.GetStages()[i-1].GetDeviceId()], caps[s.GetDeviceId()])
		}
		if s.GetLink() != link {
			s.Link, changed = link, true
		}
	}
	return changed
}

// repair mends a plan in place.
type repair struct {
	plan    *tabshardv1.Plan
	active  map[string]bool
	order   []string // active ids in join order
	events  []*tabshardv1.FailoverEvent
	changed bool
	now     int64
}

// busy reports whether id already has a role in the plan.
func (r *repair) busy(id string) bool {
	for _, s := range r.plan.GetStages() {
		if s.GetDeviceId() == id || slices.Contains(s.GetStandbyDeviceIds(), id) {
			return true
		}
	}
	return false
}

// idle returns the first active worker with no role, or "".
func (r *repair) idle() string {
	for _, id := range r.order {
		if !r.busy(id) {
			return id
		}
	}
	return ""
}

func (r *repair) primaries() error {
	for _, s := range r.plan.GetStages() {
		before := len(s.StandbyDeviceIds)
		s.StandbyDeviceIds = slices.DeleteFunc(s.StandbyDeviceIds, func(id string) bool { return !r.active[id] })
		r.changed = r.changed || len(s.StandbyDeviceIds) != before
		if r.active[s.GetDeviceId()] {
			continue
		}
		from, to, reason := s.GetDeviceId(), r.standbyFor(s), "standby promoted"
		if to != "" {
			s.StandbyDeviceIds = slices.DeleteFunc(s.StandbyDeviceIds, func(id string) bool { return id == to })
		} else if to = r.idle(); to != "" {
			reason = "idle worker assigned (no standby)"
		} else if to = r.stealStandby(); to != "" {
			reason = "another stage's standby reassigned (no standby of its own)"
		} else {
			return fmt.Errorf("%w: stage %d (blocks %d-%d) lost %s", ErrNoCandidate, s.GetIndex(), s.GetLayerBegin(), s.GetLayerEnd(), from)
		}
		s.DeviceId = to
		r.dropStandby(to)
		r.changed = true
		r.events = append(r.events, &tabshardv1.FailoverEvent{Stage: s.GetIndex(), FromWorkerId: from, ToWorkerId: to, Reason: reason, UnixMs: r.now})
	}
	return nil
}

// primaryElsewhere reports whether id runs some stage as its primary.
func (r *repair) primaryElsewhere(id string) bool {
	for _, s := range r.plan.GetStages() {
		if s.GetDeviceId() == id {
			return true
		}
	}
	return false
}

// standbyFor is the first standby of s that runs no stage itself: a
// worker runs one stage at a time.
func (r *repair) standbyFor(s *tabshardv1.Stage) string {
	for _, id := range s.StandbyDeviceIds {
		if !r.primaryElsewhere(id) {
			return id
		}
	}
	return ""
}

// dropStandby removes a newly promoted primary from every standby list.
func (r *repair) dropStandby(id string) {
	for _, s := range r.plan.GetStages() {
		s.StandbyDeviceIds = slices.DeleteFunc(s.StandbyDeviceIds, func(sb string) bool { return sb == id })
	}
}

// stealStandby takes the last standby of the stage with the most.
func (r *repair) stealStandby() string {
	for _, s := range r.plan.GetStages() {
		if id := r.standbyFor(s); id != "" {
			return id
		}
	}
	return ""
}

// standbys gives each stage short of k standbys an idle worker, stage by
// stage, until none is idle.
func (r *repair) standbys(k int) {
	for round := 0; round < k; round++ {
		for _, s := range r.plan.GetStages() {
			if len(s.StandbyDeviceIds) > round {
				continue
			}
			id := r.idle()
			if id == "" {
				return
			}
			s.StandbyDeviceIds = append(s.StandbyDeviceIds, id)
			r.changed = true
		}
	}
}

func (r *repair) unused() {
	r.plan.UnusedDeviceIds = nil
	for _, id := range r.order {
		if !r.busy(id) {
			r.plan.UnusedDeviceIds = append(r.plan.UnusedDeviceIds, id)
		}
	}
}
