package browser

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/raft"

	"github.com/tabshard/tabshard/coordinator"
	"github.com/tabshard/tabshard/wasmworker"
)

const joinToken = "browser-e2e-token"

var (
	chromium string // the browser binary
	wasmDir  string // the freshly built worker.wasm and wasm_exec.js
)

func TestMain(m *testing.M) {
	if os.Getenv("TABSHARD_SKIP_BROWSER") == "1" {
		fmt.Println("e2e/browser: TABSHARD_SKIP_BROWSER=1: skipping the real-browser tests")
		os.Exit(m.Run()) // every test skips itself
	}
	var err error
	if chromium, err = findChromium(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/browser:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "tabshard-wasm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := buildWorker(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/browser: building the tab worker:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	wasmDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// findChromium finds Debian's Chromium, or the browser $TABSHARD_CHROMIUM
// names.
func findChromium() (string, error) {
	if p := os.Getenv("TABSHARD_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for chromium and chromium-browser in $PATH and $TABSHARD_CHROMIUM): " +
		"install it with scripts/install-test-deps.sh (Debian: apt-get install -y chromium), " +
		"or set TABSHARD_SKIP_BROWSER=1 to skip the browser tests on this machine")
}

// buildWorker builds the tab worker into dir, as `make wasm-worker` does.
func buildWorker(dir string) error {
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	build := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(dir, wasmworkerFile), "github.com/tabshard/tabshard/wasmworker/cmd/worker")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	if err := gzipFile(filepath.Join(dir, wasmworkerFile)); err != nil { // as make wasm-worker leaves it
		return err
	}
	root, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		return err
	}
	loader, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), loader, 0o644)
}

const wasmworkerFile = "worker.wasm"

// gzipFile replaces path by path.gz.
func gzipFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path+".gz", buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Remove(path)
}

func skipWithoutBrowser(t *testing.T) {
	t.Helper()
	if os.Getenv("TABSHARD_SKIP_BROWSER") == "1" {
		t.Skip("TABSHARD_SKIP_BROWSER=1")
	}
}

// clusterOptions shape the coordinator of one test.
type clusterOptions struct {
	stages     int
	minWorkers int
	standbys   int
	// modelServer and modelKey: tabs read the model from this other
	// origin with grants signed with modelKey.
	modelServer string
	modelKey    []byte
	// stallNotice, when set, is the coordinator's StallNotice.
	stallNotice time.Duration
	// modelPath is the GGUF file served ("": the bundled stories260K).
	modelPath string
}

// startCoordinator runs a coordinator in this process: Raft in memory, an
// embedded NATS with its WebSocket listener, the pages, and no workers.
func startCoordinator(t *testing.T, o clusterOptions) *coordinator.Coordinator {
	t.Helper()
	const host = "127.0.0.1"
	_, trans := raft.NewInmemTransport("c1")
	cfg := coordinator.DefaultConfig()
	cfg.Cluster, cfg.JoinToken, cfg.WebDir = "browser", joinToken, wasmDir
	cfg.HTTPAddr, cfg.NATSHost, cfg.NATSPort, cfg.NATSWebSocketPort = host+":0", host, 0, 0
	cfg.RaftTransport, cfg.RaftTimeouts = trans, 50*time.Millisecond
	// Tabs share two cores with the test: a generous lease keeps a busy
	// tab (compiling its wasm, or in WebGPU on SwiftShader) from being
	// expired.
	cfg.Heartbeat, cfg.Lease, cfg.StepTimeout = 200*time.Millisecond, 4*time.Second, 4*time.Second
	cfg.MinWorkers, cfg.Stages, cfg.Standbys = max(o.minWorkers, o.stages), o.stages, o.standbys
	cfg.ModelServerURL, cfg.ModelKey = o.modelServer, o.modelKey
	cfg.ModelPath = o.modelPath
	if o.stallNotice > 0 {
		cfg.StallNotice = o.stallNotice
	}
	level := slog.LevelWarn
	if os.Getenv("TABSHARD_E2E_LOG") == "info" {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	c, err := coordinator.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testWriter sends logs to t.Log, and nowhere once the test is over.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (n int, err error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// browserFlags are Debian Chromium's flags for a headless test run as
// root (see ../../docs/browser.md).
func browserFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
	)
}

// browser is one Chromium process.
type browser struct {
	t   *testing.T
	ctx context.Context // the first tab's context; new tabs derive from it
}

// startBrowser starts a headless Chromium, closed when the test ends.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	skipWithoutBrowser(t)
	opts := append(browserFlags(t.TempDir()), extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromium, err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// tab is one page of a browser.
type tab struct {
	t      *testing.T
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	closed bool

	mu      sync.Mutex
	console []string // what the page logged, shown when the test fails
}

// open opens url in a new tab.
func (b *browser) open(name, url string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb := &tab{t: b.t, name: name, ctx: ctx, cancel: cancel}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m.String())
			tb.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		cancel()
		b.t.Fatalf("tab %s: opening %s: %v", name, url, err)
	}
	b.t.Cleanup(func() {
		if b.t.Failed() || os.Getenv("TABSHARD_E2E_LOG") == "info" {
			tb.mu.Lock()
			b.t.Logf("tab %s console:\n  %s", name, strings.Join(tb.console, "\n  "))
			tb.mu.Unlock()
		}
		tb.close()
	})
	return tb
}

// screenshot saves the page as $TABSHARD_E2E_SCREENSHOTS/<name>.png when
// that folder is set (to look at the pages).
func (tb *tab) screenshot(name string) {
	dir := os.Getenv("TABSHARD_E2E_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
	}
}

// close closes the tab, as a user closing it would.
func (tb *tab) close() {
	if !tb.closed {
		tb.closed = true
		tb.cancel()
	}
}

// eval evaluates a JavaScript expression in the tab into out.
func (tb *tab) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// status is the worker page's last status (a zero Status before the first).
func (tb *tab) status() wasmworker.Status {
	var raw string
	if err := tb.eval(`JSON.stringify(window.tabshardStatus || {})`, &raw); err != nil {
		tb.t.Fatalf("tab %s: reading its status: %v", tb.name, err)
	}
	var s wasmworker.Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		tb.t.Fatalf("tab %s: status %s: %v", tb.name, raw, err)
	}
	return s
}

// waitStatus polls the tab's status until ok accepts it.
func (tb *tab) waitStatus(what string, timeout time.Duration, ok func(wasmworker.Status) bool) wasmworker.Status {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tb.status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("tab %s: not %s after %v; status %+v", tb.name, what, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(s wasmworker.Status) bool { return s.Phase == wasmworker.PhaseReady }

// onCPU opens worker tabs on the CPU backend: WebGPU on SwiftShader with
// two cores is slow, and only TestMixedBackends is about it.
func onCPU(int) string { return "&backend=cpu" }

// openWorkers opens n worker tabs on c and waits until each is ready.
func openWorkers(t *testing.T, b *browser, c *coordinator.Coordinator, n int, query func(i int) string) []*tab {
	t.Helper()
	tabs := make([]*tab, n)
	for i := range tabs {
		q := ""
		if query != nil {
			q = query(i)
		}
		name := fmt.Sprintf("tab%d", i)
		tabs[i] = b.open(name, fmt.Sprintf("%s/worker?token=%s&name=%s%s", c.HTTPURL(), joinToken, name, q))
	}
	for _, tb := range tabs {
		tb.waitStatus("ready", 90*time.Second, ready)
	}
	return tabs
}

// oracle is llama2.c's greedy continuation of "Once upon a time": 60
// tokens after the 4 of the prompt (and BOS), 64 steps in all.
func oracle(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/stories260K/once_upon_a_time_t0_n64.stdout.txt")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(b), "Once upon a time")
}

const completionBody = `{"prompt": "Once upon a time", "max_tokens": 60, "temperature": 0, "stream": true}`

// stream starts a streamed completion and returns its text pieces as they
// come, then closes the channel; a broken stream is a test failure.
func stream(t *testing.T, base string) <-chan string {
	t.Helper()
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		r, err := http.Post(base+"/v1/completions", "application/json", strings.NewReader(completionBody))
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode == http.StatusOK {
			resp = r
			break
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("completion: %s %s", r.Status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := make(chan string, 128)
	var once sync.Once
	go func() {
		defer resp.Body.Close()
		defer once.Do(func() { close(out) })
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if data == "[DONE]" {
				return
			}
			var chunk struct {
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
				Error *struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &chunk); err != nil || chunk.Error != nil || len(chunk.Choices) != 1 {
				t.Errorf("stream event %s: %v", data, err)
				return
			}
			out <- chunk.Choices[0].Text
		}
		t.Errorf("the stream ended without [DONE]: %v", sc.Err())
	}()
	return out
}

// complete runs a completion to the end and returns its text.
func complete(t *testing.T, base string) string {
	t.Helper()
	var text bytes.Buffer
	timeout := time.After(2 * time.Minute)
	for pieces := stream(t, base); ; {
		select {
		case p, ok := <-pieces:
			if !ok {
				return text.String()
			}
			text.WriteString(p)
		case <-timeout:
			t.Fatalf("completion unfinished after 2 minutes: %q so far", text.String())
		}
	}
}
