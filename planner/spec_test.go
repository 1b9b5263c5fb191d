package planner_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestParseDevices(t *testing.T) {
	devs, err := planner.ParseDevices("4x8GiB, 2x2GiB:cpu:bw=20GB/s, 6GB:binding=1GiB:buffer=2GiB:lat=2ms:link=100MB/s")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 7 || devs[0].Id != "d0" || devs[6].Id != "d6" {
		t.Fatalf("%d devices: %v", len(devs), devs)
	}
	c := devs[0].Capabilities
	if c.Backend != tabshardv1.Backend_BACKEND_WEBGPU || c.MemoryBudgetBytes != 8<<30 || c.Limits != nil {
		t.Errorf("tab: %v", c)
	}
	c = devs[4].Capabilities
	if c.Backend != tabshardv1.Backend_BACKEND_CPU || c.MemoryBudgetBytes != 2<<30 || c.MatvecBandwidthBytesPerSecond != 20e9 {
		t.Errorf("cpu: %v", c)
	}
	last := devs[6]
	if last.Capabilities.MemoryBudgetBytes != 6e9 || last.Capabilities.Limits.MaxStorageBufferBindingSize != 1<<30 ||
		last.Capabilities.Limits.MaxBufferSize != 2<<30 || last.Links[0].LatencyMs != 2 || last.Links[0].BandwidthBytesPerSecond != 100e6 {
		t.Errorf("options: %v", last)
	}
	if devs[4] == devs[5] || devs[4].Capabilities == devs[5].Capabilities {
		t.Error("devices of a group share their messages")
	}
}

func TestParseDevicesErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                "no devices",
		"   ":             "no devices",
		"0x4GiB":          "device count",
		"-2x4GiB":         "device count",
		"99999x4GiB":      "device count",
		"8x-4GiB":         "negative",
		"8x0GiB":          "zero",
		"8x4Gibibytes":    "unknown unit",
		"8xfourGiB":       "not a number",
		"8x4GiB:gpu3":     "unknown option",
		"8x4GiB:bw=fast":  "rate",
		"8x4GiB:bw=0GB/s": "zero",
		"8x4GiB:lat=-1ms": "negative",
		"8x4GiB:lat=2h":   "want ms",
		"4GiB,,4GiB":      "not a number",
	} {
		_, err := planner.ParseDevices(spec)
		if !errors.Is(err, planner.ErrDevice) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", spec, err, want)
		}
	}
}

func TestParseDevicesJSON(t *testing.T) {
	fleet := `{"devices": [
	  {"id": "tab-a", "capabilities": {"backend": "BACKEND_WEBGPU", "memory_budget_bytes": "4294967296",
	    "limits": {"max_buffer_size": "2147483648", "max_storage_buffer_binding_size": "1073741824"},
	    "matvec_bandwidth_bytes_per_second": 2e11},
	   "links": [{"peer_device_id": "cpu-b", "latency_ms": 3, "bandwidth_bytes_per_second": 5e7}]},
	  {"id": "cpu-b", "capabilities": {"backend": "BACKEND_CPU", "memoryBudgetBytes": "8589934592"}}]}`
	for _, doc := range []string{fleet, fleet[strings.Index(fleet, "[") : strings.LastIndex(fleet, "]")+1]} {
		devs, err := planner.ParseDevicesJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if len(devs) != 2 || devs[0].Links[0].PeerDeviceId != "cpu-b" || devs[1].Capabilities.MemoryBudgetBytes != 8<<30 {
			t.Fatalf("%v", devs)
		}
		if _, err := planner.Plan(presetModel(t, "llama-3-8b:q4_k"), devs, planner.DefaultOptions()); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{`{"devices": [{"id": "x", "capabilities": {"memory_budget_bytes": "-5"}}]}`, `[{"id": 3}]`, `{"devices": 1}`, `[1,`} {
		if _, err := planner.ParseDevicesJSON([]byte(bad)); !errors.Is(err, planner.ErrDevice) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]uint64{"4GiB": 4 << 30, "512MiB": 512 << 20, "1.5GB": 1.5e9, "4096": 4096, "10B": 10, "2tib": 2 << 40} {
		if got, err := planner.ParseBytes(s); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", s, got, err, want)
		}
	}
}

// TestBadInput: every bad input is a clear error of the right kind.
func TestBadInput(t *testing.T) {
	m := presetModel(t, "llama-3-8b:q4_k")
	tabs, _ := planner.ParseDevices("4x4GiB")
	o := planner.DefaultOptions()
	cases := []struct {
		name    string
		model   *planner.Model
		devs    []*tabshardv1.Device
		edit    func(*planner.Options)
		is      error
		message string
	}{
		{"zero devices", m, nil, nil, planner.ErrDevice, "no devices"},
		{"nil model", nil, tabs, nil, planner.ErrModel, "configuration"},
		{"no capabilities", m, []*tabshardv1.Device{{Id: "x"}}, nil, planner.ErrDevice, "no capabilities"},
		{"zero budget", m, []*tabshardv1.Device{{Id: "x", Capabilities: &tabshardv1.Capabilities{}}}, nil, planner.ErrDevice, "memory budget 0"},
		{"no id", m, []*tabshardv1.Device{{Capabilities: &tabshardv1.Capabilities{MemoryBudgetBytes: 1}}}, nil, planner.ErrDevice, "no id"},
		{"duplicate id", m, []*tabshardv1.Device{tabs[0], tabs[0]}, nil, planner.ErrDevice, "twice"},
		{"unknown peer", m, []*tabshardv1.Device{{Id: "x", Capabilities: &tabshardv1.Capabilities{MemoryBudgetBytes: 1 << 30},
			Links: []*tabshardv1.DeviceLink{{PeerDeviceId: "y", LatencyMs: 1}}}}, nil, planner.ErrDevice, "unknown device"},
		{"negative context", m, tabs, func(o *planner.Options) { o.Context = -1 }, planner.ErrOptions, "negative"},
		{"context too long", m, tabs, func(o *planner.Options) { o.Context = 9000 }, planner.ErrOptions, "8192"},
		{"kv type", m, tabs, func(o *planner.Options) { o.KVType = kernels.Q4_K }, planner.ErrOptions, "KV type"},
		{"negative standby", m, tabs, func(o *planner.Options) { o.Standby = -1 }, planner.ErrOptions, "standby"},
		{"negative sessions", m, tabs, func(o *planner.Options) { o.Sessions = -1 }, planner.ErrOptions, "session count"},
		{"negative batch", m, tabs, func(o *planner.Options) { o.Batch = -1 }, planner.ErrOptions, "batch"},
		{"activation type", m, tabs, func(o *planner.Options) { o.ActivationType = kernels.Q8_0 }, planner.ErrOptions, "activation type"},
		{"q8_0 KV on 8-wide heads", presetModel(t, "stories260k:f32"), tabs, func(o *planner.Options) { o.KVType = kernels.Q8_0 }, planner.ErrOptions, "head dimension 8"},
		{"tensor outside blocks", &planner.Model{Config: m.Config, Tensors: append([]planner.Tensor{{Name: "blk.99.x.weight", Type: kernels.F32, Dims: []uint64{4}}}, m.Tensors...)},
			tabs, nil, planner.ErrModel, "blk.99"},
		{"bad row", &planner.Model{Config: m.Config, Tensors: append([]planner.Tensor{{Name: "blk.0.y.weight", Type: kernels.Q4_K, Dims: []uint64{100, 2}}}, m.Tensors...)},
			tabs, nil, planner.ErrModel, "blk.0.y"},
		{"no embedding", &planner.Model{Config: m.Config, Tensors: m.Tensors[1:]}, tabs, nil, planner.ErrModel, "token_embd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oc := o
			if c.edit != nil {
				c.edit(&oc)
			}
			_, err := planner.Plan(c.model, c.devs, oc)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("got %v, want %v mentioning %q", err, c.is, c.message)
			}
		})
	}
}

// TestExactStages: Options.Stages fixes the number of stages, and a count
// no plan can have is an infeasible answer that says so.
func TestExactStages(t *testing.T) {
	m := presetModel(t, "llama-3-8b:q4_k")
	devs, _ := planner.ParseDevices("6x4GiB")
	for _, n := range []int{2, 3, 6} {
		o := planner.DefaultOptions()
		o.Stages = n
		plan, err := planner.Plan(m, devs, o)
		if err != nil || len(plan.Stages) != n {
			t.Fatalf("%d stages: %v", n, err)
		}
	}
	o := planner.DefaultOptions()
	o.Stages = 7
	_, err := planner.Plan(m, devs, o)
	var ie *planner.InfeasibleError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "not in exactly 7 stage(s)") {
		t.Fatalf("7 stages on 6 devices: %v", err)
	}
}
