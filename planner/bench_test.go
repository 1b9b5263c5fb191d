package planner_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// presetModel is a preset under a policy, as the planner takes it.
func presetModel(tb testing.TB, spec string) *planner.Model {
	tb.Helper()
	p, pol, err := preset.Parse(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return planner.FromPreset(p, pol)
}

// heterogeneous is a seeded fleet of n devices: mostly WebGPU tabs of 2
// to 8 GiB at 40–400 GB/s, some CPU workers of 4 to 16 GiB at 5–30 GB/s.
// With pairwise, every device also reports a link to every other.
func heterogeneous(seed uint64, n int, pairwise bool) []*tabshardv1.Device {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]*tabshardv1.Device, n)
	for i := range out {
		c := &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_WEBGPU}
		if r.IntN(4) == 0 {
			c.Backend = tabshardv1.Backend_BACKEND_CPU
			c.MemoryBudgetBytes = uint64([]int{4, 8, 16}[r.IntN(3)]) << 30
			c.MatvecBandwidthBytesPerSecond = float64(5+r.IntN(26)) * 1e9
		} else {
			c.MemoryBudgetBytes = uint64([]int{2, 3, 4, 6, 8}[r.IntN(5)]) << 30
			c.MatvecBandwidthBytesPerSecond = float64(40+r.IntN(361)) * 1e9
		}
		out[i] = &tabshardv1.Device{Id: fmt.Sprintf("h%d", i), Capabilities: c}
	}
	if pairwise {
		for i, d := range out {
			for j := range out {
				if j != i {
					d.Links = append(d.Links, &tabshardv1.DeviceLink{PeerDeviceId: out[j].Id, LatencyMs: 0.1 + 3*r.Float64(), BandwidthBytesPerSecond: 1e8 + 2e9*r.Float64()})
				}
			}
		}
	}
	return out
}

// BenchmarkPlan80x64 plans Llama-3-70B (80 blocks) on 64 heterogeneous
// devices: the whole of Plan, profile and both passes included.
func BenchmarkPlan80x64(b *testing.B) {
	for _, pairwise := range []bool{false, true} {
		name := "uniform-links"
		if pairwise {
			name = "pairwise-links"
		}
		b.Run(name, func(b *testing.B) {
			m := presetModel(b, "llama-3-70b:q4_k")
			devs := heterogeneous(1, 64, pairwise)
			o := planner.DefaultOptions()
			for b.Loop() {
				if _, err := planner.Plan(m, devs, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
