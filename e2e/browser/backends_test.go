package browser

import (
	"strings"
	"testing"
)

// TestMixedBackends: a pipeline whose middle tab is forced to the CPU
// fallback (?backend=cpu) while the others run WebGPU (SwiftShader in
// headless Chromium) produces llama2.c's text.
func TestMixedBackends(t *testing.T) {
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 3})
	tabs := openWorkers(t, b, c, 3, func(i int) string {
		if i == 1 {
			return "&backend=cpu"
		}
		return ""
	})
	backends := map[string]int{}
	for i, tb := range tabs {
		s := tb.status()
		backends[s.Backend]++
		switch {
		case i == 1 && (s.Backend != "cpu" || !strings.Contains(s.BackendNote, "backend=cpu")):
			t.Errorf("the tab forced to the CPU: %+v", s)
		case i != 1 && (s.Backend != "webgpu" || !strings.Contains(s.Adapter, "swiftshader")):
			t.Errorf("tab %s should run WebGPU on SwiftShader: %+v", tb.name, s)
		}
	}
	t.Logf("backends: %v", backends)
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Errorf("text\n got %q\nwant %q", got, want)
	}
}
