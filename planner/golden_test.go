package planner_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/planner"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenCase is a preset on a typical fleet.
type goldenCase struct {
	name, model, devices string
	edit                 func(*planner.Options)
}

var goldenCases = []goldenCase{
	{name: "llama-3-70b-q4_k-12x4GiB", model: "llama-3-70b:q4_k", devices: "12x4GiB"},
	{name: "llama-3-70b-q4_k-8x4GiB", model: "llama-3-70b:q4_k", devices: "8x4GiB"},
	{name: "llama-3-70b-q3_k-8x4GiB", model: "llama-3-70b:q3_k", devices: "8x4GiB"},
	{name: "llama-3-70b-q4_k-mixed", model: "llama-3-70b:q4_k",
		devices: "4x8GiB:bw=400GB/s:binding=1GiB:buffer=2GiB,4x6GiB:bw=150GB/s,2x16GiB:cpu:bw=20GB/s"},
	{name: "llama-3-70b-q4_k-small-ends", model: "llama-3-70b:q4_k", devices: "1x256MiB,7x6GiB,1x512MiB"},
	{name: "llama-3-8b-q8_0-4x4GiB-standby", model: "llama-3-8b:q8_0", devices: "4x4GiB,1x2GiB",
		edit: func(o *planner.Options) { o.Standby = 1; o.Context = 8192 }},
	{name: "qwen2-72b-q4_k-16x4GiB-q8kv", model: "qwen2-72b:q4_k", devices: "16x4GiB",
		edit: func(o *planner.Options) { o.KVType = kernels.Q8_0; o.Context = 16384 }},
	{name: "qwen2-7b-f16-4x4GiB", model: "qwen2-7b:f16", devices: "4x4GiB,2x8GiB:cpu"},
	{name: "mistral-7b-q4_k-2x4GiB-32k", model: "mistral-7b:q4_k", devices: "2x4GiB",
		edit: func(o *planner.Options) { o.Context = 32768 }},
	{name: "stories260k-f32-3x1MiB", model: "stories260k:f32", devices: "3x1MiB:binding=64KiB"},
	{name: "stories260k-f32-3x2MiB", model: "stories260k:f32", devices: "3x2MiB:binding=64KiB",
		edit: func(o *planner.Options) { o.Batch = 8 }},
}

// TestGolden plans the presets on typical fleets and compares the tables
// (or the infeasible answers) with testdata/*.golden; -update rewrites
// them.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c)
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./planner -update)", err)
			}
			if got != string(want) {
				t.Fatalf("plan differs from %s (run go test ./planner -update and review the diff)\n got:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// render is the golden text of a case: the plan's table or the error.
func render(t *testing.T, c goldenCase) string {
	o := planner.DefaultOptions()
	if c.edit != nil {
		c.edit(&o)
	}
	devs, err := planner.ParseDevices(c.devices)
	if err != nil {
		t.Fatal(err)
	}
	header := "$ tabshard plan --model " + c.model + " --devices " + c.devices + "\n"
	plan, err := planner.Plan(presetModel(t, c.model), devs, o)
	var ie *planner.InfeasibleError
	switch {
	case errors.As(err, &ie):
		return header + "infeasible: " + ie.Error() + "\n"
	case err != nil:
		t.Fatal(err)
	}
	return header + planner.Table(plan)
}

// TestLlama70BQ4Weights checks the headline numbers: Llama-3-70B's
// 70,553,706,496 weights at 4 bits are 35.28 GB of codes; Q4_K's block
// scales and minimums (144 bytes per 256 weights, not 128) bring the
// whole to 39.69 GB, which 12 tabs of 4 GiB hold with the output head
// split under the 128 MiB binding limit.
func TestLlama70BQ4Weights(t *testing.T) {
	devs, _ := planner.ParseDevices("12x4GiB")
	plan, err := planner.Plan(presetModel(t, "llama-3-70b:q4_k"), devs, planner.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if plan.TotalWeightBytes != 39_690_993_664 {
		t.Fatalf("total weights %d", plan.TotalWeightBytes)
	}
	last := plan.Stages[len(plan.Stages)-1]
	var head bool
	for _, sp := range last.Splits {
		if sp.Tensor == "output.weight" {
			head = sp.Chunks > 1 && sp.ChunkBytes <= planner.DefaultMaxBindingSize
		}
	}
	if !head || !strings.Contains(planner.Table(plan), "split: stage 11: output.weight into 5 chunks") {
		t.Fatalf("the output head (591 MB) is not split on the last stage:\n%s", planner.Table(plan))
	}
}
