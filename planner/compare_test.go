package planner_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// compareModels are the models the comparison cycles through.
var compareModels = []string{"llama-3-70b:q4_k", "qwen2-72b:q4_k", "llama-3-8b:q8_0", "qwen2-7b:f16", "mistral-7b:q8_0"}

// compareFleet is the seeded heterogeneous fleet of comparison i: the
// smallest prefix of an endless seeded fleet whose memory is at least 1.5
// times what model needs and on which the planner finds a plan.
func compareFleet(t *testing.T, i int, m *planner.Model, o planner.Options) ([]*tabshardv1.Device, *tabshardv1.Plan) {
	all := heterogeneous(uint64(100+i), 64, false)
	need := 0.0
	for n := 2; n <= len(all); n++ {
		devs := all[:n]
		plan, err := planner.Plan(m, devs, o)
		if err != nil {
			continue
		}
		if need == 0 {
			need = float64(plan.TotalPeakBytes)
		}
		if budget(devs) >= 1.5*need {
			return devs, plan
		}
	}
	t.Fatalf("fleet %d: no prefix of 64 devices fits %s", i, m.Name)
	return nil, nil
}

func budget(devs []*tabshardv1.Device) float64 {
	var n float64
	for _, d := range devs {
		n += float64(d.Capabilities.MemoryBudgetBytes)
	}
	return n
}

// fleetText summarises a fleet: "7 tabs 2-8 GiB, 2 CPU 4-16 GiB".
func fleetText(devs []*tabshardv1.Device) string {
	var parts []string
	for _, b := range []tabshardv1.Backend{tabshardv1.Backend_BACKEND_WEBGPU, tabshardv1.Backend_BACKEND_CPU} {
		var sizes []uint64
		for _, d := range devs {
			if d.Capabilities.Backend == b {
				sizes = append(sizes, d.Capabilities.MemoryBudgetBytes>>30)
			}
		}
		if len(sizes) == 0 {
			continue
		}
		name := map[tabshardv1.Backend]string{tabshardv1.Backend_BACKEND_WEBGPU: "tabs", tabshardv1.Backend_BACKEND_CPU: "CPU"}[b]
		parts = append(parts, fmt.Sprintf("%d %s %d-%d GiB", len(sizes), name, slices.Min(sizes), slices.Max(sizes)))
	}
	return strings.Join(parts, ", ")
}

// TestCompareExo plans 20 seeded heterogeneous fleets with Plan and with
// the memory-proportional split exo uses, and prints the predicted
// tokens/s of both (run with -v for the table in BENCHMARKS.md). Plan is
// optimal in the same cost model, so it must never be slower.
func TestCompareExo(t *testing.T) {
	o := planner.DefaultOptions()
	var rows []string
	var ratios []float64
	misfits := 0
	for i := range 20 {
		m := presetModel(t, compareModels[i%len(compareModels)])
		devs, plan := compareFleet(t, i, m, o)
		prop, err := planner.Proportional(m, devs, o)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := plan.PredictedTokensPerSecond, prop.PredictedTokensPerSecond
		exo := fmt.Sprintf("%.1f", theirs)
		ratio := "—"
		switch {
		case !planner.Fits(prop):
			exo += " (does not fit)"
			misfits++
		case ours < theirs*(1-1e-9):
			t.Fatalf("fleet %d: planner %.3f tokens/s, proportional %.3f", i, ours, theirs)
		default:
			ratios = append(ratios, ours/theirs)
			ratio = fmt.Sprintf("%.2f×", ours/theirs)
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %.1f | %d | %.1f | %s | %s |",
			i, m.Name, fleetText(devs), budget(devs)/(1<<30), len(plan.Stages), ours, exo, ratio))
	}
	if testing.Verbose() {
		fmt.Println("| fleet | model | devices | memory GiB | stages | planner tokens/s | proportional tokens/s | speed-up |")
		fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
		fmt.Println(strings.Join(rows, "\n"))
		slices.Sort(ratios)
		fmt.Printf("\nproportional split fits %d of 20 fleets; where it fits, the planner is %.2f× faster in the median (min %.2f×, max %.2f×)\n",
			20-misfits, ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	}
}
