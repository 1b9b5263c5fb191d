package browser

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tabshard/tabshard/wasmworker"
)

// TestReloadedTabReadsWeightsFromBrowserStorage: a tab keeps the byte
// ranges it loaded in Cache Storage; reloaded, it rejoins and loads its
// stage from there, with no Range request reaching the model server.
func TestReloadedTabReadsWeightsFromBrowserStorage(t *testing.T) {
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 1})
	tb := openWorkers(t, b, c, 1, onCPU)[0]
	first := tb.status()
	if first.CachedBytes != 0 || first.LoadedBytes < first.StageBytes {
		t.Fatalf("first load: %+v", first)
	}
	ranges := modelRangeRequests(t, c.HTTPURL())
	if ranges == 0 {
		t.Fatal("the model server counted no Range requests for the first load")
	}
	if err := chromedp.Do(tb.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	again := tb.waitStatus("ready again as a new worker", 60*time.Second, func(s wasmworker.Status) bool {
		return ready(s) && s.WorkerID != "" && s.WorkerID != first.WorkerID
	})
	if again.CachedBytes < again.StageBytes || again.StageBytes != first.StageBytes {
		t.Errorf("after the reload %d of the stage's %d bytes came from browser storage: %+v", again.CachedBytes, again.StageBytes, again)
	}
	if n := modelRangeRequests(t, c.HTTPURL()); n != ranges {
		t.Errorf("the reloaded tab sent %d Range requests to the model server", n-ranges)
	}
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Errorf("text after the reload\n got %q\nwant %q", got, want)
	}
}

// modelRangeRequests counts the model server's 206 answers (/metrics).
func modelRangeRequests(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`tabshard_http_requests_total\{code="206",route="/model/\{name\}"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
