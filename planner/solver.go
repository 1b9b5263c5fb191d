package planner

import (
	"math"
	"slices"
)

// solver holds what the dynamic program needs, precomputed.
type solver struct {
	p       *profile
	devs    []device
	classes []*limitClass
	// hop[j][k] is the incoming hop of a stage on k after a stage on j;
	// hop0[k] is the token's hop into a first stage on k, in ms.
	hop  [][]float64
	hop0 []float64
	// preds[k] lists the devices j < k that are not off, by ascending
	// hop[j][k]; predHop[k] holds those hops in the same order.
	preds   [][]int
	predHop [][]float64
	// off marks devices kept out of the partition (reserved as standbys).
	off []bool
	// uniform[k] is true when every predecessor of k has the same hop to
	// it, so the best predecessor is simply the best state.
	uniform []bool
	// stages is the exact number of stages wanted; 0 for any.
	stages int
	// midEnd[k][l] is the largest m such that [l,m) fits k as a middle
	// stage (l when none does).
	midEnd [][]int
}

// newSolver resolves limit classes and hops for devs.
func newSolver(p *profile, devs []device) *solver {
	s := &solver{p: p, devs: slices.Clone(devs), stages: p.opts.Stages}
	byLimit := map[int64]int{}
	for i := range s.devs {
		d := &s.devs[i]
		c, ok := byLimit[d.limit]
		if !ok {
			c = len(s.classes)
			byLimit[d.limit] = c
			s.classes = append(s.classes, newLimitClass(p, d.limit))
		}
		d.class = c
	}
	s.links(p.opts)
	s.midEnds()
	return s
}

// links fills hop, hop0 and preds.
func (s *solver) links(o Options) {
	n := len(s.devs)
	s.hop = make([][]float64, n)
	s.hop0 = make([]float64, n)
	s.preds = make([][]int, n)
	for k := range s.devs {
		s.hop0[k] = hopMs(defaultLink(&s.devs[k], o), tokenBytes)
		s.hop[k] = make([]float64, n)
		for j := range s.devs {
			if j != k {
				s.hop[k][j] = hopMs(linkBetween(&s.devs[k], &s.devs[j], o), s.p.msgBytes)
			}
		}
	}
	s.setOff(make([]bool, n))
}

// setOff keeps the devices marked in off out of the partition.
func (s *solver) setOff(off []bool) {
	s.off = off
	s.uniform = make([]bool, len(s.devs))
	s.predHop = make([][]float64, len(s.devs))
	for k := range s.devs {
		preds := make([]int, 0, k)
		for j := range k {
			if !off[j] {
				preds = append(preds, j)
			}
		}
		slices.SortStableFunc(preds, func(a, b int) int { return cmpFloat(s.hop[a][k], s.hop[b][k]) })
		hops := make([]float64, len(preds))
		for i, j := range preds {
			hops[i] = s.hop[j][k]
		}
		s.preds[k], s.predHop[k] = preds, hops
		s.uniform[k] = len(preds) == 0 || hops[0] == hops[len(hops)-1]
	}
}

// midEnds fills midEnd. A stage that starts later needs less memory, so
// the end only moves forward as the start does: two pointers per device.
func (s *solver) midEnds() {
	L := s.p.blocks
	s.midEnd = make([][]int, len(s.devs))
	for k := range s.devs {
		ends := make([]int, L+1)
		m := 0
		for l := 0; l <= L; l++ {
			m = max(m, l)
			for m < L && s.fits(k, l, m+1, false, false) {
				m++
			}
			ends[l] = m
		}
		s.midEnd[k] = ends
	}
}

// tokenBytes is a sampled token on its way back to the first stage.
const tokenBytes = 4

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// memory is the peak bytes of blocks [l,m) on device k, and whether every
// buffer can be bound there (padding counts only buffers that can).
func (s *solver) memory(k, l, m int, first, last bool) (int64, bool) {
	c := s.classes[s.devs[k].class]
	e := &c.extras[b2i(first)][b2i(last)]
	p := s.p
	mem := p.weight[m] - p.weight[l] + int64(m-l)*p.kvBlock + c.pad[m] - c.pad[l] + e.bytes + e.pad
	return mem, e.ok && c.bad[m] == c.bad[l]
}

// time is the compute time per token, in ms, of blocks [l,m) on device
// k, without the hop.
func (s *solver) time(k, l, m int, first, last bool) float64 {
	d := &s.devs[k]
	e := &s.classes[d.class].extras[b2i(first)][b2i(last)]
	return float64(s.p.read[m]-s.p.read[l]+e.read) * d.msPerByte()
}

// compute is time, and false when the stage does not fit device k.
func (s *solver) compute(k, l, m int, first, last bool) (float64, bool) {
	mem, ok := s.memory(k, l, m, first, last)
	if !ok || mem > s.devs[k].budget {
		return 0, false
	}
	return s.time(k, l, m, first, last), true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

var inf = math.Inf(1)

// grid is a value per state (device k, blocks placed m), stored by m so
// that the predecessors of one m, scanned for every k, are contiguous.
type grid struct {
	rows int
	v    []float64
}

func newGrid(rows, cols int) grid {
	g := grid{rows: rows, v: make([]float64, rows*cols)}
	for i := range g.v {
		g.v[i] = inf
	}
	return g
}

func (g grid) at(k, m int) float64 { return g.v[m*g.rows+k] }

func (g grid) set(k, m int, x float64) { g.v[m*g.rows+k] = x }
