package planner

import (
	"math"
	"math/rand/v2"
	"testing"
)

// outcome is a plan's objective: its slowest stage and its sum.
type outcome struct{ bottleneck, sum float64 }

// bruteForce enumerates every plan — every increasing sequence of devices
// and every cut of the blocks — and returns the lexicographic optimum by
// the same rule as Plan: least bottleneck, then least sum among plans
// within boundSlack of it.
func bruteForce(s *solver) (outcome, bool) {
	var all []outcome
	var rec func(prev, pos, n int, acc outcome)
	want := func(n int) bool { return s.stages == 0 || n == s.stages }
	L := s.p.blocks
	stage := func(hop float64, k, l, m int, first, last bool) (float64, bool) {
		c, ok := s.compute(k, l, m, first, last)
		return hop + c, ok
	}
	add := func(acc outcome, t float64) outcome { return outcome{max(acc.bottleneck, t), acc.sum + t} }
	rec = func(prev, pos, n int, acc outcome) {
		for k := prev + 1; k < len(s.devs); k++ {
			if t, ok := stage(s.hop[prev][k], k, pos, L, false, true); ok && want(n+1) {
				all = append(all, add(acc, t))
			}
			for m := pos + 1; m <= L; m++ {
				if t, ok := stage(s.hop[prev][k], k, pos, m, false, false); ok {
					rec(k, m, n+1, add(acc, t))
				}
			}
		}
	}
	for k := range s.devs {
		if t, ok := stage(0, k, 0, L, true, true); ok && want(1) {
			all = append(all, outcome{t, t})
		}
		for m := 0; m <= L; m++ {
			if t, ok := stage(s.hop0[k], k, 0, m, true, false); ok {
				rec(k, m, 1, outcome{t, t})
			}
		}
	}
	if len(all) == 0 {
		return outcome{}, false
	}
	best := outcome{math.Inf(1), math.Inf(1)}
	for _, o := range all {
		best.bottleneck = min(best.bottleneck, o.bottleneck)
	}
	for _, o := range all {
		if o.bottleneck <= best.bottleneck*(1+boundSlack) {
			best.sum = min(best.sum, o.sum)
		}
	}
	return best, true
}

// evaluate is the objective of a solution.
func evaluate(s *solver, stages []stageRef) outcome {
	var o outcome
	for i, r := range stages {
		var hop float64 // a single stage has none
		switch {
		case i > 0:
			hop = s.hop[stages[i-1].dev][r.dev]
		case !r.last:
			hop = s.hop0[r.dev]
		}
		c, ok := s.compute(r.dev, r.begin, r.end, r.first, r.last)
		if !ok {
			return outcome{math.Inf(1), math.Inf(1)}
		}
		o.bottleneck = max(o.bottleneck, hop+c)
		o.sum += hop + c
	}
	return o
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestDPMatchesBruteForce holds the dynamic program to exhaustive search
// on small random models and fleets: same feasibility, same bottleneck,
// same total latency among the plans with that bottleneck — and the
// filling-in-order feasibility check agrees with both.
func TestDPMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	feasible, multi := 0, 0
	for i := range 600 {
		m := randomModel(r, 6)
		o := randomOptions(r, m, false)
		if r.IntN(3) == 0 {
			o.Stages = 1 + r.IntN(4)
		}
		n := 1 + r.IntN(5)
		devs := randomFleet(r, n, 3*needBytes(t, m, o)/int64(n))
		s, err := prepare(m, devs, o)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, wantOK := bruteForce(s)
		stages, ok := s.solve()
		if ok != wantOK || (o.Stages == 0 && s.reach().done != wantOK) {
			t.Fatalf("case %d: DP feasible %v, filling %v, brute force %v", i, ok, s.reach().done, wantOK)
		}
		if !ok {
			continue
		}
		feasible++
		multi += min(len(stages)-1, 1)
		if o.Stages > 0 && len(stages) != o.Stages {
			t.Fatalf("case %d: %d stages, want %d", i, len(stages), o.Stages)
		}
		got := evaluate(s, stages)
		if !close(got.bottleneck, want.bottleneck) || !close(got.sum, want.sum) {
			t.Fatalf("case %d: DP %+v, brute force %+v (stages %+v)", i, got, want, stages)
		}
	}
	if feasible < 150 || multi < 75 {
		t.Fatalf("%d of 600 were feasible, %d with several stages: the generator needs tuning", feasible, multi)
	}
}
