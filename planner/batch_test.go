package planner_test

import (
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestPrefillBatch: left to the planner, the prefill batch is 256 where
// every activation buffer of 256 positions fits each WebGPU device's
// binding; fewer, with a note naming the buffer and the device, where
// one does not; halved while the devices' memory holds no plan; and an
// explicit batch is kept as given.
func TestPrefillBatch(t *testing.T) {
	cases := []struct {
		name, model, devices string
		context, batch       int
		want                 int
		note                 string
	}{
		{"roomy", "llama-3-70b:q4_k", "12x4GiB", 0, 0, planner.MaxPrefillBatch, ""},
		// Llama-3's logits are 513 KB a position: 64 MiB binds 130.
		{"binding", "llama-3-70b:q4_k", "11x4GiB,1x4GiB:binding=64MiB", 0, 0, 130, "the logits of a position take 501.00 KiB, and d11 binds at most 64.00 MiB"},
		{"CPU devices bind anything", "llama-3-8b:q8_0", "4x4GiB:cpu:binding=1MiB", 0, 0, planner.MaxPrefillBatch, ""},
		{"memory", "llama-3-70b:q3_k", "8x4GiB", 2048, 0, 32, "the activations of more positions leave no plan that fits"},
		{"explicit", "llama-3-70b:q4_k", "11x4GiB,1x4GiB:binding=64MiB", 0, 512, 512, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			devs, err := planner.ParseDevices(c.devices)
			if err != nil {
				t.Fatal(err)
			}
			o := planner.DefaultOptions()
			o.Batch, o.Context = c.batch, c.context
			plan, err := planner.Plan(presetModel(t, c.model), devs, o)
			if err != nil {
				t.Fatal(err)
			}
			if int(plan.GetPrefillBatch()) != c.want {
				t.Fatalf("prefill batch %d, want %d", plan.GetPrefillBatch(), c.want)
			}
			notes := strings.Join(plan.GetNotes(), "\n")
			if c.note == "" && strings.Contains(notes, "prefill batch") {
				t.Fatalf("a note on the batch: %s", notes)
			}
			if c.note != "" && !strings.Contains(notes, c.note) {
				t.Fatalf("notes %q do not say %q", notes, c.note)
			}
		})
	}
}

// TestActivationType: the plan carries the type hidden states travel as
// (F32 unless asked), its header names F16, and F16 halves each hop's
// message, so a hop costs less.
func TestActivationType(t *testing.T) {
	devs, err := planner.ParseDevices("12x4GiB:lat=1ms:link=100MB/s")
	if err != nil {
		t.Fatal(err)
	}
	m := presetModel(t, "llama-3-70b:q4_k")
	plan := func(typ kernels.DType) *tabshardv1.Plan {
		o := planner.DefaultOptions()
		o.ActivationType = typ
		p, err := planner.Plan(m, devs, o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f32, f16 := plan(kernels.F32), plan(kernels.F16)
	if f32.GetActivationType() != tabshardv1.DType_D_TYPE_F32 || f16.GetActivationType() != tabshardv1.DType_D_TYPE_F16 {
		t.Fatalf("activation types %s and %s", f32.GetActivationType(), f16.GetActivationType())
	}
	if strings.Contains(planner.Table(f32), "activations") || !strings.Contains(planner.Table(f16), ", activations F16") {
		t.Fatalf("headers:\n%s\n%s", planner.Table(f32), planner.Table(f16))
	}
	// 16 KiB less a hop at 100 MB/s: 0.16 ms.
	h32, h16 := f32.GetStages()[1].GetHopMsPerToken(), f16.GetStages()[1].GetHopMsPerToken()
	if d := h32 - h16; d < 0.16 || d > 0.17 {
		t.Fatalf("hops of %.4f ms (F32) and %.4f ms (F16)", h32, h16)
	}
}
