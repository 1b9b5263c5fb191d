package planner

// The two passes of the dynamic program described in the package doc.
//
// States live in layers. Without a stage count there is one layer: a
// transition reads rows j < k of it and writes row k, so stage counts
// mix freely. With exactly S stages (Options.Stages) layer i holds the
// states whose last stage so far is stage i, for i < S−1; each sweep
// reads one layer and writes the next, and the last sweep offers the
// final stage S−1.

// stageRef is one stage of a solution: blocks [begin,end) on device dev.
type stageRef struct {
	dev, begin, end int
	first, last     bool
}

// boundSlack lets pass 2 accept stages that equal pass 1's bottleneck up
// to rounding: the same stage time may be summed in another order.
const boundSlack = 1e-9

// solve returns the optimal stages, or ok false when nothing fits.
func (s *solver) solve() (stages []stageRef, ok bool) {
	b := s.bottleneck()
	if b == inf {
		return nil, false
	}
	return s.latency(b + b*boundSlack)
}

// sweep is one pass over the devices: from which layer, into which, and
// whether it offers middle stages and last stages.
type sweep struct {
	src, dst  int
	mid, last bool
}

// layout is how many layers the passes use and the sweeps over them.
func (s *solver) layout() (layers int, sweeps []sweep) {
	n := s.stages
	if n == 0 {
		return 1, []sweep{{0, 0, true, true}}
	}
	for i := 1; i < n; i++ {
		sweeps = append(sweeps, sweep{src: i - 1, dst: min(i, n-2), mid: i < n-1, last: i == n-1})
	}
	return max(n-1, 0), sweeps
}

// singleAllowed reports whether a plan may be a single stage.
func (s *solver) singleAllowed() bool { return s.stages <= 1 }

// point is a predecessor state (j, l) seen from device k.
type point struct {
	f, h float64 // its bottleneck so far, its hop to k
}

// bottleneck is pass 1: the least slowest-stage time of any plan.
func (s *solver) bottleneck() float64 {
	L, D := s.p.blocks, len(s.devs)
	layers, sweeps := s.layout()
	g := make([]grid, layers)
	for i := range g {
		g[i] = newGrid(D, L+1)
	}
	best := inf
	for k := range D {
		if s.off[k] {
			continue
		}
		if layers > 0 {
			s.firstStages(g[0], k, inf)
		}
		if c, ok := s.compute(k, 0, L, true, true); ok && s.singleAllowed() {
			best = min(best, c) // one stage: the token stays on its device
		}
	}
	for _, sw := range sweeps {
		best = min(best, s.sweepMinimax(g[sw.src], g[sw.dst], sw))
	}
	return best
}

// sweepMinimax relaxes every transition from src into dst (middle stages)
// or into the final answer (last stages), which it returns.
func (s *solver) sweepMinimax(src, dst grid, sw sweep) float64 {
	L := s.p.blocks
	best := inf
	colMin := make([]float64, L+1) // min over the rows done of src(j,l)
	for l := range colMin {
		colMin[l] = inf
	}
	var front []point
	for k := range s.devs {
		if s.off[k] {
			continue
		}
		for l := 0; l <= L; l++ {
			front = s.front(front[:0], src, colMin, k, l)
			if len(front) == 0 {
				continue
			}
			if sw.mid {
				s.relaxMinimax(dst, front, k, l)
			}
			if c, ok := s.compute(k, l, L, false, true); ok && sw.last {
				v, _ := minimaxAt(front, c, len(front))
				best = min(best, v)
			}
		}
		for l := range colMin {
			colMin[l] = min(colMin[l], src.at(k, l))
		}
	}
	return best
}

// firstStages sets g(k,m) for a first stage [0,m) on k of time at most
// bound, which pass 1 and pass 2 both start from.
func (s *solver) firstStages(g grid, k int, bound float64) {
	for m := 0; m <= s.p.blocks; m++ {
		c, ok := s.compute(k, 0, m, true, false)
		if !ok || s.hop0[k]+c > bound {
			return
		}
		g.set(k, m, s.hop0[k]+c)
	}
}

// front lists the predecessors (j,l) of device k that no other beats on
// both bottleneck and hop: by ascending hop, strictly descending f. With
// a uniform hop that is the one with the least f, colMin[l].
func (s *solver) front(dst []point, g grid, colMin []float64, k, l int) []point {
	switch {
	case colMin[l] == inf: // no predecessor reached l
		return dst
	case s.uniform[k]:
		return append(dst, point{f: colMin[l], h: s.predHop[k][0]})
	}
	row := g.v[l*g.rows : (l+1)*g.rows]
	hops := s.predHop[k]
	best := inf
	for i, j := range s.preds[k] {
		if f := row[j]; f < best {
			best = f
			dst = append(dst, point{f: f, h: hops[i]})
		}
	}
	return dst
}

// relaxMinimax offers g(k,m) every middle stage [l,m) on k.
func (s *solver) relaxMinimax(g grid, front []point, k, l int) {
	p := len(front)
	for m := l + 1; m <= s.midEnd[k][l]; m++ {
		c := s.time(k, l, m, false, false)
		var v float64
		v, p = minimaxAt(front, c, p)
		if v < g.at(k, m) {
			g.set(k, m, v)
		}
	}
}

// minimaxAt is min over the front of max(f, h+c). Along the front
// h+c−f grows, so the points with h+c ≥ f form a suffix starting at some
// index i; the best is i (the smallest h+c there) or i−1 (the smallest f
// before). As c grows i only moves left: p, the previous i, is where the
// search resumes.
func minimaxAt(front []point, c float64, p int) (float64, int) {
	for p > 0 && front[p-1].h+c >= front[p-1].f {
		p--
	}
	v := inf
	if p < len(front) {
		v = front[p].h + c
	}
	if p > 0 {
		v = min(v, front[p-1].f)
	}
	return v, p
}
