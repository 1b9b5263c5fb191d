package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLinkBench measures activation hops between tabs inside Chromium:
// BroadcastChannel (two tabs of one browser), WebRTC (two Chromium
// processes) and NATS over WebSocket (through the coordinator's server),
// for a decode-sized (16 KiB) and a prefill-sized (8 MiB) activation, in
// the network namespace of TestWebRTCBetweenBrowsers. It is a benchmark,
// not a test: `make bench` runs it (TABSHARD_BENCH=1) and prints the table
// BENCHMARKS.md keeps. TABSHARD_BENCH_LINKS=broadcast,nats,... runs only
// those links (js-broadcast, broadcast, webrtc, nats);
// TABSHARD_LINKBENCH_WASM=path runs a linkbench.wasm built elsewhere (the
// commit before a change, to compare on the same machine).
func TestLinkBench(t *testing.T) {
	if os.Getenv("TABSHARD_BENCH") != "1" {
		t.Skip("a benchmark: make bench runs it (TABSHARD_BENCH=1)")
	}
	skipWithoutBrowser(t)
	if prebuilt := os.Getenv("TABSHARD_LINKBENCH_WASM"); prebuilt != "" { // another build's, to compare
		b, err := os.ReadFile(prebuilt)
		if err == nil {
			err = os.WriteFile(filepath.Join(wasmDir, "linkbench.wasm"), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	} else {
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(wasmDir, "linkbench.wasm"), "github.com/tabshard/tabshard/wasmworker/cmd/linkbench")
		build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the link benchmark: %v\n%s", err, out)
		}
	}
	ns := netns(t)
	base := startHelper(t, ns)
	a, b := startBrowserIn(t, ns), startBrowserIn(t, ns)
	n16, n8m := 300, 10
	type result struct {
		Kind     string  `json:"kind"`
		Bytes    int     `json:"bytes"`
		N        int     `json:"n"`
		HopP50   float64 `json:"hop_p50_ms"`
		HopP99   float64 `json:"hop_p99_ms"`
		MBPerSec float64 `json:"mb_per_s"`
		SendP50  float64 `json:"send_p50_ms"`
	}
	var all []result
	for _, c := range []struct {
		kind       string
		ping, pong *browser
		where      string
	}{
		{"js-broadcast", a, a, "BroadcastChannel in plain JavaScript (the floor: no Go, no copies into wasm)"},
		{"broadcast", a, a, "BroadcastChannel, two tabs of one browser"},
		{"webrtc", a, b, "WebRTC data channel, two Chromium processes"},
		{"nats", a, b, "NATS over WebSocket, through the server"},
	} {
		if only := os.Getenv("TABSHARD_BENCH_LINKS"); only != "" && !slices.Contains(strings.Split(only, ","), c.kind) {
			continue
		}
		page := func(role, name, peer string) string {
			return fmt.Sprintf("%s/static/linkbench.html?role=%s&name=%s&token=%s&peer=%s&kind=%s&n16=%d&n8m=%d", base, role, name, joinToken, peer, c.kind, n16, n8m)
		}
		pong := c.pong.open(c.kind+"-pong", page("pong", c.kind+"-pong", ""))
		var echoing struct {
			WorkerID string `json:"worker_id"`
		}
		json.Unmarshal([]byte(waitBench(t, pong, func(s string) bool { return strings.Contains(s, "echoing") })), &echoing)
		ping := c.ping.open(c.kind+"-ping", page("ping", c.kind+"-ping", echoing.WorkerID))
		out := waitBench(t, ping, func(s string) bool { return strings.Contains(s, "results") })
		var r struct{ Results []result }
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %s", c.kind, out)
		}
		for i := range r.Results {
			r.Results[i].Kind = c.where
		}
		all = append(all, r.Results...)
		ping.close()
		pong.close()
	}
	var table strings.Builder
	table.WriteString("| link | message | hops | hop p50 | hop p99 | throughput (p50) | sender in send (p50) |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range all {
		size := "16 KiB"
		if r.Bytes > 1<<20 {
			size = "8 MiB"
		}
		send := "—"
		if r.SendP50 > 0 {
			send = fmt.Sprintf("%.2f ms", r.SendP50)
		}
		fmt.Fprintf(&table, "| %s | %s | %d | %.2f ms | %.2f ms | %.0f MiB/s | %s |\n", r.Kind, size, r.N, r.HopP50, r.HopP99, r.MBPerSec, send)
	}
	t.Logf("hops inside Chromium (%s):\n%s", time.Now().UTC().Format("2006-01-02"), table.String())
	fmt.Print(table.String())
}

// waitBench polls the bench page's result until done accepts it.
func waitBench(t *testing.T, tb *tab, done func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var s string
		tb.eval(`window.tabshardBench || ""`, &s)
		if strings.Contains(s, `"error"`) {
			t.Fatalf("%s: %s", tb.name, s)
		}
		if done(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no result after 3 minutes: %q", tb.name, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
