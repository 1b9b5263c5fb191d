package planner

import (
	"fmt"
	"strings"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Plan splits m over devices, which come in pipeline order, as the
// package doc describes. It returns an *InfeasibleError (wrapping
// ErrInfeasible) when no plan fits, and errors wrapping ErrModel,
// ErrDevice or ErrOptions for bad input.
func Plan(m *Model, devices []*tabshardv1.Device, o Options) (*tabshardv1.Plan, error) {
	if o.Batch == 0 {
		return planAutoBatch(m, devices, o)
	}
	return planWith(m, devices, o)
}

// planWith is Plan with o's prefill batch as it is.
func planWith(m *Model, devices []*tabshardv1.Device, o Options) (*tabshardv1.Plan, error) {
	s, err := prepare(m, devices, o)
	if err != nil {
		return nil, err
	}
	stages, ok := s.solve()
	if !ok {
		return nil, s.infeasible()
	}
	if o.Standby == 0 {
		return s.finish(stages, nil, m.Notes), nil
	}
	return s.withStandbys(stages, o.Standby, m.Notes)
}

// prepare validates the input and precomputes the solver.
func prepare(m *Model, devices []*tabshardv1.Device, o Options) (*solver, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	p, err := newProfile(m, o)
	if err != nil {
		return nil, err
	}
	devs, err := resolveDevices(devices, o)
	if err != nil {
		return nil, err
	}
	return newSolver(p, devs), nil
}

// finish builds the plan message with standbys and notes.
func (s *solver) finish(stages []stageRef, standbys [][]int, notes []string) *tabshardv1.Plan {
	plan := s.build(stages)
	for i, sb := range standbys {
		for _, d := range sb {
			plan.Stages[i].StandbyDeviceIds = append(plan.Stages[i].StandbyDeviceIds, s.devs[d].id)
		}
	}
	plan.Notes = append(plan.Notes, notes...)
	return plan
}

// withStandbys gives every stage k standbys, holding back the largest
// devices from the partition, one more at a time, when the optimal
// partition leaves no room for them.
func (s *solver) withStandbys(stages []stageRef, k int, notes []string) (*tabshardv1.Plan, error) {
	sb, short := s.standbys(stages, k)
	if short == nil {
		return s.finish(stages, sb, notes), nil
	}
	first, maxPeak := short, s.maxPeak(stages)
	off := make([]bool, len(s.devs))
	var held []string
	for _, d := range s.reserveOrder()[:len(s.devs)-1] {
		off[d] = true
		held = append(held, s.devs[d].id)
		s.setOff(off)
		if stages, ok := s.solve(); ok {
			if sb, short = s.standbys(stages, k); short == nil {
				note := fmt.Sprintf("held %s out of the partition as standby: the fastest partition left no room for standbys", strings.Join(held, ", "))
				return s.finish(stages, sb, append([]string{note}, notes...)), nil
			}
		}
	}
	s.setOff(make([]bool, len(s.devs)))
	return nil, s.standbyError(first, k, maxPeak)
}

// maxPeak is the largest stage peak of a solution.
func (s *solver) maxPeak(stages []stageRef) int64 {
	var n int64
	for _, r := range stages {
		m, _ := s.memory(r.dev, r.begin, r.end, r.first, r.last)
		n = max(n, m)
	}
	return n
}
