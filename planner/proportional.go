package planner

import tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"

// Proportional is the split that exo uses and llama.cpp's RPC backend
// resembles: each device, in the given order, gets a share of the blocks
// proportional to its memory budget — the block boundaries are the
// cumulative shares times the block count, rounded down — regardless of
// speed, limits or what the embedding and head add. Devices whose share
// rounds to no block are left out. The plan is costed with the same
// model as Plan's, for comparison; it may not fit (see Fits).
func Proportional(m *Model, devices []*tabshardv1.Device, o Options) (*tabshardv1.Plan, error) {
	s, err := prepare(m, devices, o)
	if err != nil {
		return nil, err
	}
	return s.build(s.proportional()), nil
}

// proportional cuts the blocks by cumulative memory share.
func (s *solver) proportional() []stageRef {
	var total, cum float64
	for _, d := range s.devs {
		total += float64(d.budget)
	}
	L := s.p.blocks
	var out []stageRef
	begin := 0
	for k, d := range s.devs {
		cum += float64(d.budget)
		end := int(cum / total * float64(L))
		if k == len(s.devs)-1 {
			end = L
		}
		if end > begin {
			out = append(out, stageRef{dev: k, begin: begin, end: end})
			begin = end
		}
	}
	out[0].first = true
	out[len(out)-1].last = true
	return out
}
