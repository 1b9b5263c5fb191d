package planner

// cand is a predecessor of device k in pass 2, by ascending hop, with
// the least (sum so far + hop) among it and those before it.
type cand struct {
	h, best float64
	j       int // the device that gives best
}

// parent is where a state of pass 2 came from; j < 0 marks a first stage.
type parent struct{ j, l int32 }

// layer is one layer of pass 2's states and their parents.
type layer struct {
	g   grid
	par []parent
}

// pass2 holds pass 2's layers and its best final stage.
type pass2 struct {
	layers []layer
	bound  float64
	best   float64
	end    stageRef
	from   parent // the state before the final stage
	fromL  int    // its layer
}

// newPass2 makes n layers for pass 2.
func (s *solver) newPass2(n int, bound float64) *pass2 {
	t := &pass2{layers: make([]layer, n), bound: bound, best: inf}
	for i := range t.layers {
		ly := layer{g: newGrid(len(s.devs), s.p.blocks+1), par: make([]parent, len(s.devs)*(s.p.blocks+1))}
		for j := range ly.par {
			ly.par[j] = parent{-1, 0} // a state no transition improves came from a first stage
		}
		t.layers[i] = ly
	}
	return t
}

// latency is pass 2: the least sum of stage times over plans whose every
// stage takes at most bound.
func (s *solver) latency(bound float64) ([]stageRef, bool) {
	L := s.p.blocks
	n, sweeps := s.layout()
	t := s.newPass2(n, bound)
	for k := range s.devs {
		if s.off[k] {
			continue
		}
		if n > 0 {
			s.firstStages(t.layers[0].g, k, bound)
		}
		c, ok := s.compute(k, 0, L, true, true) // one stage: no hop
		if ok && s.singleAllowed() && c <= bound && c < t.best {
			t.best, t.end, t.from = c, stageRef{k, 0, L, true, true}, parent{-1, 0}
		}
	}
	for _, sw := range sweeps {
		s.sweepSum(t, sw)
	}
	if t.best == inf {
		return nil, false
	}
	return s.trace(t), true
}

// sweepSum relaxes every transition from layer sw.src.
func (s *solver) sweepSum(t *pass2, sw sweep) {
	L := s.p.blocks
	src := t.layers[sw.src].g
	col := make([]cand, L+1) // the least src(j,l) over the rows done, and its j
	for l := range col {
		col[l] = cand{best: inf}
	}
	var cands []cand
	for k := range s.devs {
		if s.off[k] {
			continue
		}
		for l := 0; l <= L; l++ {
			cands = s.cands(cands[:0], src, col, k, l)
			if len(cands) == 0 {
				continue
			}
			if sw.mid {
				s.relaxSum(t, &t.layers[sw.dst], cands, k, l)
			}
			if sw.last {
				s.offerLast(t, sw.src, cands, k, l)
			}
		}
		for l := range col {
			if v := src.at(k, l); v < col[l].best {
				col[l] = cand{best: v, j: k}
			}
		}
	}
}

// cands lists device k's predecessors at l with running minima. With a
// uniform hop only the best state matters: col[l].
func (s *solver) cands(dst []cand, g grid, col []cand, k, l int) []cand {
	switch {
	case col[l].best == inf: // no predecessor reached l
		return dst
	case s.uniform[k]:
		h := s.predHop[k][0]
		return append(dst, cand{h: h, best: col[l].best + h, j: col[l].j})
	}
	row := g.v[l*g.rows : (l+1)*g.rows]
	hops := s.predHop[k]
	for i, j := range s.preds[k] {
		v := row[j]
		if v == inf {
			continue
		}
		c := cand{h: hops[i], best: v + hops[i], j: j}
		if n := len(dst); n > 0 && dst[n-1].best <= c.best {
			c.best, c.j = dst[n-1].best, dst[n-1].j
		}
		dst = append(dst, c)
	}
	return dst
}

// allowed shrinks p to the predecessors whose hop plus c stays within
// the bound: a prefix, since they are sorted by hop.
func allowed(cands []cand, c, bound float64, p int) int {
	for p > 0 && cands[p-1].h+c > bound {
		p--
	}
	return p
}

// relaxSum offers dst(k,m) every middle stage [l,m) on k.
func (s *solver) relaxSum(t *pass2, dst *layer, cands []cand, k, l int) {
	p := len(cands)
	for m := l + 1; m <= s.midEnd[k][l]; m++ {
		c := s.time(k, l, m, false, false)
		if p = allowed(cands, c, t.bound, p); p == 0 {
			return
		}
		if v := cands[p-1].best + c; v < dst.g.at(k, m) {
			dst.g.set(k, m, v)
			dst.par[m*dst.g.rows+k] = parent{int32(cands[p-1].j), int32(l)}
		}
	}
}

// offerLast offers the last stage [l,L) on k after a state of layer src.
func (s *solver) offerLast(t *pass2, src int, cands []cand, k, l int) {
	L := s.p.blocks
	c, ok := s.compute(k, l, L, false, true)
	if !ok {
		return
	}
	p := allowed(cands, c, t.bound, len(cands))
	if p == 0 {
		return
	}
	if v := cands[p-1].best + c; v < t.best {
		t.best, t.end = v, stageRef{k, l, L, false, true}
		t.from, t.fromL = parent{int32(cands[p-1].j), int32(l)}, src
	}
}

// trace walks the parents back from the best last stage. Without a
// stage count every state is in layer 0; with one, each step back goes
// down a layer.
func (s *solver) trace(t *pass2) []stageRef {
	out := []stageRef{t.end}
	layered := s.stages > 0
	li := t.fromL
	for j, l := int(t.from.j), int(t.from.l); j >= 0; {
		ly := t.layers[li]
		pr := ly.par[l*ly.g.rows+j]
		if pr.j < 0 {
			out = append(out, stageRef{j, 0, l, true, false})
			break
		}
		out = append(out, stageRef{j, int(pr.l), l, false, false})
		j, l = int(pr.j), int(pr.l)
		if layered {
			li--
		}
	}
	for i, k := 0, len(out)-1; i < k; i, k = i+1, k-1 {
		out[i], out[k] = out[k], out[i]
	}
	return out
}
