package planner

import (
	"cmp"
	"fmt"
	"slices"
)

// standbyShortage says which stage could not get its standbys.
type standbyShortage struct {
	stage    int
	peak     int64 // the stage's peak on its own device
	eligible int   // devices with room for it
}

// standbys picks k standbys for every stage: devices other than the
// stage's own whose spare memory holds the stage under their own limits.
// Unused devices come first, then those covering fewest stages so far,
// then those with most spare memory.
func (s *solver) standbys(stages []stageRef, k int) ([][]int, *standbyShortage) {
	own := make([]int64, len(s.devs))
	used := make([]bool, len(s.devs))
	for _, r := range stages {
		own[r.dev], _ = s.memory(r.dev, r.begin, r.end, r.first, r.last)
		used[r.dev] = true
	}
	covers := make([]int, len(s.devs))
	out := make([][]int, len(stages))
	for i, r := range stages {
		elig := s.eligible(r, own)
		if len(elig) < k {
			return nil, &standbyShortage{stage: i, peak: own[r.dev], eligible: len(elig)}
		}
		slices.SortStableFunc(elig, func(a, b int) int {
			return cmp.Or(cmp.Compare(b2i(used[a]), b2i(used[b])), cmp.Compare(covers[a], covers[b]),
				cmp.Compare(s.devs[b].budget-own[b], s.devs[a].budget-own[a]))
		})
		out[i] = elig[:k]
		for _, d := range out[i] {
			covers[d]++
		}
	}
	return out, nil
}

// eligible lists the devices that could take stage r over.
func (s *solver) eligible(r stageRef, own []int64) []int {
	var out []int
	for d := range s.devs {
		if d == r.dev {
			continue
		}
		mem, ok := s.memory(d, r.begin, r.end, r.first, r.last)
		if ok && own[d]+mem <= s.devs[d].budget {
			out = append(out, d)
		}
	}
	return out
}

// reserveOrder lists devices by the order Plan keeps them out of the
// partition when standbys find no room: largest budget first, later
// devices first among equals (they shift the pipeline least).
func (s *solver) reserveOrder() []int {
	order := make([]int, len(s.devs))
	for i := range order {
		order[i] = len(order) - 1 - i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s.devs[b].budget, s.devs[a].budget) })
	return order
}

// standbyRound rounds the size of a suggested standby device up, which
// also covers the padding another binding limit may add.
const standbyRound = 1 << 20

// standbyError explains a standby shortage.
func (s *solver) standbyError(short *standbyShortage, k int, maxPeak int64) *InfeasibleError {
	return &InfeasibleError{
		Model:   s.p.name,
		Devices: len(s.devs),
		Reason: fmt.Sprintf("stage %d (%s) needs %d standby device(s) and %d other device(s) have room for it, even with devices held back as standbys",
			short.stage, FormatBytes(short.peak), k, short.eligible),
		ShortBytes:      int64(k-short.eligible) * short.peak,
		MoreDevices:     k,
		MoreDeviceBytes: (maxPeak + standbyRound - 1) / standbyRound * standbyRound,
	}
}
