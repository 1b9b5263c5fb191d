package planner

import "fmt"

// maxExtraDevices bounds the search for how many devices would help.
const maxExtraDevices = 1024

// reachState is how far filling devices in order has got.
type reachState struct {
	pos     int  // blocks [0,pos) are placed
	started bool // the embedding is placed
	done    bool // the head is placed: everything fits
}

// fits reports whether blocks [l,m) fit device k.
func (s *solver) fits(k, l, m int, first, last bool) bool {
	mem, ok := s.memory(k, l, m, first, last)
	return ok && mem <= s.devs[k].budget
}

// farthest is the largest m such that [l,m) fits k as a non-last stage,
// or -1. Memory grows with m, so it scans until the first misfit.
func (s *solver) farthest(k, l int, first bool) int {
	m := -1
	for x := l; x <= s.p.blocks && s.fits(k, l, x, first, false); x++ {
		m = x
	}
	return m
}

// advance gives device k as much as fits after st. Taking the farthest
// reach is never worse: a stage's memory only shrinks when it starts
// later or holds fewer blocks, so whatever a plan could do next from a
// nearer point it can do from a farther one. Hence filling in order
// decides exactly whether any plan fits in memory.
func (s *solver) advance(st reachState, k int) reachState {
	if st.done {
		return st
	}
	first := !st.started
	if s.fits(k, st.pos, s.p.blocks, first, true) {
		return reachState{pos: s.p.blocks, started: true, done: true}
	}
	if m := s.farthest(k, st.pos, first); m > st.pos || (first && m >= 0) {
		st.pos, st.started = m, true
	}
	return st
}

// reach fills every device that is not off, in order.
func (s *solver) reach() reachState {
	var st reachState
	for k := range s.devs {
		if !s.off[k] {
			st = s.advance(st, k)
		}
	}
	return st
}

// infeasible explains why no plan fits and what would make one fit.
func (s *solver) infeasible() *InfeasibleError {
	if s.stages > 0 {
		free := *s
		free.stages = 0
		if _, ok := free.solve(); ok {
			return s.stageCountError()
		}
	}
	p := s.p
	st := s.reach()
	e := &InfeasibleError{Model: p.name, PlacedBlocks: st.pos, WeightBytes: p.totalWeights(), Standby: p.opts.Standby}
	e.NeedBytes = e.WeightBytes + int64(p.blocks)*p.kvBlock + sumBytes(p.acts) + sumBytes(p.logits)
	for k, d := range s.devs {
		if !s.off[k] {
			e.Devices++
			e.HaveBytes += d.budget
		}
	}
	e.ShortBytes = s.unplaced(st)
	e.Reason = s.reason(st)
	e.MoreDevices, e.MoreDeviceBytes = s.moreDevices(st)
	e.MaxContext = s.maxContext()
	e.MaxSessions = s.maxSessions()
	return e
}

// unplaced is the weight and KV bytes of what st could not place.
func (s *solver) unplaced(st reachState) int64 {
	p := s.p
	n := p.weight[p.blocks] - p.weight[st.pos] + int64(p.blocks-st.pos)*p.kvBlock + sumBytes(p.head)
	if !st.started {
		n += sumBytes(p.embed) + sumBytes(p.shared)
		if p.tied {
			n -= sumBytes(p.embed)
		}
	}
	return n
}

// reason says in words what found no room.
func (s *solver) reason(st reachState) string {
	if why := s.unbindable(); why != "" {
		return why
	}
	p := s.p
	switch {
	case !st.started:
		return fmt.Sprintf("no device holds the token embedding (%s) with its buffers", FormatBytes(sumBytes(p.embed)))
	case st.pos == p.blocks:
		return fmt.Sprintf("all %d blocks fit but the output head (%s) finds no room after them", p.blocks, FormatBytes(sumBytes(p.head)))
	}
	return fmt.Sprintf("filling the devices in order places blocks 0..%d of %d; blocks %d..%d and the output head find no room",
		st.pos-1, p.blocks, st.pos, p.blocks-1)
}

// unbindable names a block or extra whose rows exceed every device's
// binding limit, or returns "".
func (s *solver) unbindable() string {
	for i := range s.p.blocks {
		if s.everyDevice(func(c *limitClass) bool { return c.bad[i+1] != c.bad[i] }) {
			return fmt.Sprintf("a row of block %d is larger than every device's binding limit", i)
		}
	}
	if s.everyDevice(func(c *limitClass) bool { return !c.extras[1][0].ok }) {
		return "a row of the token embedding or an activation buffer is larger than every device's binding limit"
	}
	if s.everyDevice(func(c *limitClass) bool { return !c.extras[0][1].ok }) {
		return "a row of the output head is larger than every device's binding limit"
	}
	return ""
}

// everyDevice reports whether f holds for the class of every device.
func (s *solver) everyDevice(f func(*limitClass) bool) bool {
	for k, d := range s.devs {
		if !s.off[k] && !f(s.classes[d.class]) {
			return false
		}
	}
	return true
}

// moreDevices is how many copies of the largest device, added at the end,
// would make the plan fit, and that device's budget; 0 when none would.
func (s *solver) moreDevices(st reachState) (int, int64) {
	big := -1
	for k, d := range s.devs {
		if !s.off[k] && (big < 0 || d.budget >= s.devs[big].budget) {
			big = k
		}
	}
	for n := 1; n <= maxExtraDevices; n++ {
		next := s.advance(st, big)
		if next.done {
			return n, s.devs[big].budget
		}
		if next == st {
			return 0, 0
		}
		st = next
	}
	return 0, 0
}

// maxSessions is the most sessions below the asked number whose caches
// fit the devices at the asked context, or 0.
func (s *solver) maxSessions() int {
	return largestFeasible(int(s.p.sessions())-1, func(n int) bool {
		p, err := s.p.withSessions(n)
		if err != nil {
			return false
		}
		t := newSolver(p, s.devs)
		t.setOff(s.off)
		return t.reach().done
	})
}

// largestFeasible is the largest n in [1, hi] with feasible(n), feasible
// being monotone (true up to some n, false past it), or 0.
func largestFeasible(hi int, feasible func(int) bool) int {
	if hi < 1 || !feasible(1) {
		return 0
	}
	lo := 1 // feasible(lo); the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if feasible(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// maxContext is the longest context that fits the devices, or 0.
func (s *solver) maxContext() int {
	feasible := func(ctx int) bool {
		p, err := s.p.withContext(ctx)
		if err != nil {
			return false
		}
		t := newSolver(p, s.devs)
		t.setOff(s.off)
		return t.reach().done
	}
	if s.p.context <= 1 || !feasible(1) {
		return 0
	}
	lo, hi := 1, s.p.context-1 // feasible(lo); the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if feasible(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// stageCountError says that the plan fits, but not in the stages asked.
func (s *solver) stageCountError() *InfeasibleError {
	return &InfeasibleError{
		Model: s.p.name, Devices: len(s.devs), PlacedBlocks: s.p.blocks,
		Reason: fmt.Sprintf("the devices hold the model, but not in exactly %d stage(s)", s.stages),
		Hints:  []string{"another number of stages (0 lets the planner choose)"},
	}
}
