package browser

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/wasmworker"
)

// TestWebGPUStageStreamsRealBytesAndReloadsFromCache: a WebGPU tab loads
// a stage of real bytes (stories110M's shape at Q8_0, random weights: 143
// MB) over HTTP Range into GPU buffers a few MiB at a time, so that its
// wasm heap never holds the stage (the high-water mark stays under half
// of it) while the dashboard shows its progress, and keeps the ranges in
// Cache Storage: reloaded, it reads at
// least 95 % of the stage from there and not from the model server.
func TestWebGPUStageStreamsRealBytesAndReloadsFromCache(t *testing.T) {
	skipWithoutBrowser(t)
	path := filepath.Join(t.TempDir(), "s110-q8.gguf")
	p, err := preset.Lookup("stories110m")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := quantize.Parse("q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WritePreset(path, p, pol, synth.WeightsRandom, 1); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 1, modelPath: path})
	dash := b.open("dashboard", c.HTTPURL()+"/dashboard")
	tb := b.open("tab0", c.HTTPURL()+"/worker?token="+joinToken+"&name=tab0&backend=webgpu")
	start := time.Now()
	shown := map[string]bool{} // what the dashboard's weights column said
	var first wasmworker.Status
	for deadline := start.Add(3 * time.Minute); !ready(first); first = tb.status() {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 3m: %+v", first)
		}
		var cells []string
		if err := dash.eval(`[...document.querySelectorAll("#members td.load")].map((td) => td.textContent)`, &cells); err == nil {
			for _, c := range cells {
				shown[c] = true
			}
		}
		time.Sleep(150 * time.Millisecond)
	}
	took := time.Since(start)
	if !dashboardShowedProgress(shown) {
		t.Errorf("the dashboard never showed the tab part-way through its load: it showed %v", shown)
	}
	if first.Backend != "webgpu" || first.CachedBytes != 0 || first.StageBytes < 100e6 || first.LoadedBytes < first.StageBytes {
		t.Fatalf("first load: %+v", first)
	}
	// WasmMemory is the Go runtime's share of the wasm memory, which only
	// grows: after the load it is the load's high-water mark (or more).
	heap := tb.waitStatus("showing its memory", 10*time.Second, func(s wasmworker.Status) bool { return s.WasmMemory > 0 }).WasmMemory
	t.Logf("first load: %d bytes of a %d-byte stage in %v (page open to ready); wasm heap %d bytes", first.LoadedBytes, first.StageBytes, took.Round(time.Millisecond), heap)
	if heap >= uint64(first.StageBytes)/2 {
		t.Errorf("the wasm heap grew to %d bytes loading a %d-byte stage: it should stream, not hold it", heap, first.StageBytes)
	}
	ranges := modelRangeRequests(t, c.HTTPURL())
	if err := chromedp.Do(tb.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	again := tb.waitStatus("ready again as a new worker", 3*time.Minute, func(s wasmworker.Status) bool {
		return ready(s) && s.WorkerID != "" && s.WorkerID != first.WorkerID
	})
	t.Logf("reload: %d of %d bytes from Cache Storage, %d Range requests to the model server (first load: %d)",
		again.CachedBytes, again.StageBytes, modelRangeRequests(t, c.HTTPURL())-ranges, ranges)
	if again.StageBytes != first.StageBytes || float64(again.CachedBytes) < 0.95*float64(again.StageBytes) {
		t.Errorf("after the reload %d of the stage's %d bytes came from Cache Storage, want >= 95 %%: %+v", again.CachedBytes, again.StageBytes, again)
	}
	if n := modelRangeRequests(t, c.HTTPURL()) - ranges; n*20 > ranges {
		t.Errorf("the reloaded tab sent %d Range requests to the model server, the first load %d", n, ranges)
	}
}

// dashboardShowedProgress reports whether one of the weights cells read
// "N % · X of Y" with 0 < N < 100.
func dashboardShowedProgress(shown map[string]bool) bool {
	for text := range shown {
		var pct int
		if _, err := fmt.Sscanf(text, "%d %%", &pct); err == nil && pct > 0 && pct < 100 && strings.Contains(text, " of ") {
			return true
		}
	}
	return false
}
