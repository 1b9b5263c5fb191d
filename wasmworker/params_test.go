package wasmworker

import (
	"errors"
	"strings"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestParseParams(t *testing.T) {
	cases := []struct {
		url  string
		want Params
		err  string
	}{
		{"http://127.0.0.1:8080/worker?token=abc", Params{Origin: "http://127.0.0.1:8080", Token: "abc"}, ""},
		{"https://h/worker?token=abc&name=t1&backend=cpu&memory_mb=512", Params{Origin: "https://h", Token: "abc", Name: "t1", Backend: BackendCPU, MemoryBudget: 512 << 20}, ""},
		{"http://h/worker?token=abc&backend=WebGPU", Params{Origin: "http://h", Token: "abc", Backend: BackendGPU}, ""},
		{"http://h/worker", Params{}, "no join token"},
		{"http://h/worker?token=%20", Params{}, "no join token"},
		{"http://h/worker?token=a&backend=tpu", Params{}, "backend="},
		{"http://h/worker?token=a&memory_mb=-1", Params{}, "memory_mb"},
		{"/worker?token=a", Params{}, "absolute"},
	}
	for _, c := range cases {
		got, err := ParseParams(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.url, got, err, c.want)
		}
	}
	if _, err := ParseParams("http://h/worker"); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	var l Lifecycle
	steps := []struct {
		event   string
		want    tabshardv1.Lifecycle
		changed bool
	}{
		{EventVisible, tabshardv1.Lifecycle_LIFECYCLE_ACTIVE, false},
		{EventHidden, tabshardv1.Lifecycle_LIFECYCLE_HIDDEN, true},
		{EventFreeze, tabshardv1.Lifecycle_LIFECYCLE_FROZEN, true},
		{EventResume, tabshardv1.Lifecycle_LIFECYCLE_HIDDEN, true},
		{EventVisible, tabshardv1.Lifecycle_LIFECYCLE_ACTIVE, true},
		{"scroll", tabshardv1.Lifecycle_LIFECYCLE_ACTIVE, false},
		{EventPageHide, tabshardv1.Lifecycle_LIFECYCLE_LEAVING, true},
		{EventFreeze, tabshardv1.Lifecycle_LIFECYCLE_LEAVING, false}, // leaving wins
		{EventPageShow, tabshardv1.Lifecycle_LIFECYCLE_ACTIVE, true}, // back from the bfcache
	}
	for i, s := range steps {
		got, changed := l.Event(s.event)
		if got != s.want || changed != s.changed || l.Current() != s.want {
			t.Errorf("step %d %s: %v changed %v, want %v changed %v", i, s.event, got, changed, s.want, s.changed)
		}
	}
}

func TestMemoryBudget(t *testing.T) {
	if got := MemoryBudget(tabshardv1.Backend_BACKEND_CPU, 8<<30); got != 3<<29 {
		t.Errorf("CPU, 8 GiB device: %d, want 1.5 GiB (the wasm cap)", got)
	}
	if got := MemoryBudget(tabshardv1.Backend_BACKEND_CPU, 2<<30); got != 512<<20 {
		t.Errorf("CPU, 2 GiB device: %d", got)
	}
	if got := MemoryBudget(tabshardv1.Backend_BACKEND_WEBGPU, 0); got != 2<<30 {
		t.Errorf("WebGPU, unknown device memory: %d", got)
	}
	if bw := MeasureCPUBandwidth(0); bw <= 0 {
		t.Errorf("bandwidth %v", bw)
	}
}

func TestCapabilities(t *testing.T) {
	g := &GPUInfo{Vendor: "google", Architecture: "swiftshader", Features: []string{"subgroups"}, Limits: &tabshardv1.WebGPULimits{MaxBufferSize: 1 << 30}}
	c := Capabilities(tabshardv1.Backend_BACKEND_WEBGPU, g, 1<<30, 5e9, "UA")
	if c.GetAdapter().GetArchitecture() != "swiftshader" || c.GetLimits().GetMaxBufferSize() != 1<<30 || len(c.GetFeatures()) != 1 || c.GetCpuCores() != 1 {
		t.Errorf("WebGPU capabilities %v", c)
	}
	// A tab forced to the CPU reports its adapter but no binding limits:
	// the planner must not split its tensors for a GPU it does not use.
	if c := Capabilities(tabshardv1.Backend_BACKEND_CPU, g, 1<<30, 1e9, "UA"); c.GetLimits() != nil || c.GetAdapter() == nil {
		t.Errorf("CPU capabilities %v", c)
	}
	if g.Name() != "google swiftshader" || (*GPUInfo)(nil).Name() != "" {
		t.Errorf("names %q", g.Name())
	}
	links := []tabshardv1.Link{tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC}
	id := NewBrowserID()
	if other := NewBrowserID(); len(id) < 16 || other == id {
		t.Errorf("browser ids %q, %q", id, other)
	}
	if l := WithLinks(c, id, links); l.GetBrowserId() != id || len(l.GetLinks()) != 2 || l.GetMemoryBudgetBytes() != 1<<30 || c.GetBrowserId() != "" || c.GetLinks() != nil {
		t.Errorf("with links %v (from %v)", l, c)
	}
}
