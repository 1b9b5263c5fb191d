// Command tabs opens worker tabs of a tabshard coordinator in one headless
// Chromium (the tabs of one browser, as a user would open them) and
// reports what they do, as JSON lines: for the benchmarks that run real
// browser tabs where no person can (scripts/bench-load,
// scripts/bench-pipeline with TABS=chromium).
//
//	tabs --coordinator URL --join-token T [--tabs N] [--backend webgpu]
//	     [--chromium PATH] [--flag NAME[=VALUE]]... [--reload] [--hold]
//	tabs --gpu-info --coordinator URL [--chromium PATH] [--flag ...]
//
// Each tab's first "ready" line says how long it took from opening the
// page, the stage's bytes, how many came from browser storage and the
// wasm heap's size. --reload then reloads each tab once (its weights come
// from Cache Storage) and reports it again; --hold keeps the tabs open
// until the process is signalled, reporting every tab's status every
// --every. --gpu-info prints what navigator.gpu gives a page of the
// coordinator's origin (adapter, features, limits, or the error) and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tabs:", err)
		os.Exit(1)
	}
}

// flagList collects repeated --flag values.
type flagList []string

func (f *flagList) String() string     { return strings.Join(*f, " ") }
func (f *flagList) Set(v string) error { *f = append(*f, v); return nil }

type options struct {
	coordinator, token, backend, chromium, dataDir string
	tabs                                           int
	memoryMB                                       uint64
	flags                                          flagList
	reload, hold, gpuInfo                          bool
	timeout, every                                 time.Duration
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("tabs", flag.ContinueOnError)
	fs.StringVar(&o.coordinator, "coordinator", "", "the coordinator's HTTP address, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&o.token, "join-token", "", "the cluster's join token (required unless --gpu-info)")
	fs.IntVar(&o.tabs, "tabs", 1, "worker tabs to open")
	fs.Uint64Var(&o.memoryMB, "memory-mb", 0, "each tab's memory budget in MiB (0: the page's default)")
	fs.StringVar(&o.backend, "backend", "webgpu", "auto, webgpu or cpu")
	fs.StringVar(&o.chromium, "chromium", "", "the browser (default: $TABSHARD_CHROMIUM, else chromium-headless-shell or chromium on $PATH)")
	fs.StringVar(&o.dataDir, "user-data-dir", "", "the browser profile (default: a new temporary one); reuse one to find its Cache Storage again")
	fs.Var(&o.flags, "flag", "a Chromium flag NAME or NAME=VALUE, without the dashes (repeatable), e.g. --flag use-angle=vulkan")
	fs.BoolVar(&o.reload, "reload", false, "reload each tab once it is ready and report it again")
	fs.BoolVar(&o.hold, "hold", false, "keep the tabs open until signalled")
	fs.BoolVar(&o.gpuInfo, "gpu-info", false, "print navigator.gpu's adapter (or its error) and exit")
	fs.DurationVar(&o.timeout, "ready-timeout", 10*time.Minute, "how long a tab may take to be ready")
	fs.DurationVar(&o.every, "every", 10*time.Second, "with --hold, how often to report")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.coordinator == "":
		return o, errors.New("--coordinator is required")
	case !o.gpuInfo && o.token == "":
		return o, errors.New("--join-token is required")
	case o.tabs < 1:
		return o, fmt.Errorf("--tabs %d: want at least 1", o.tabs)
	}
	if _, err := url.ParseRequestURI(o.coordinator); err != nil {
		return o, fmt.Errorf("--coordinator: %w", err)
	}
	o.coordinator = strings.TrimRight(o.coordinator, "/")
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	browser, closeBrowser, err := startBrowser(ctx, o)
	if err != nil {
		return err
	}
	defer closeBrowser()
	enc := json.NewEncoder(out)
	if o.gpuInfo {
		return gpuInfo(browser, o.coordinator+"/healthz", enc)
	}
	return runTabs(ctx, browser, o, enc)
}

// findChromium is the browser to start.
func findChromium(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p := os.Getenv("TABSHARD_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium: pass --chromium PATH or set $TABSHARD_CHROMIUM")
}

// startBrowser starts headless Chromium with the flags a test run as root
// needs (docs/browser.md) and o's; it is closed by the returned func.
func startBrowser(ctx context.Context, o options) (context.Context, func(), error) {
	path, err := findChromium(o.chromium)
	if err != nil {
		return nil, nil, err
	}
	dir := o.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tabs-profile-"); err != nil {
			return nil, nil, err
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.CombinedOutput(os.Stderr))
	for _, f := range o.flags {
		name, value, hasValue := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		cancelAlloc()
		return nil, nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return bctx, func() {
		cancel()
		cancelAlloc()
		if o.dataDir == "" {
			os.RemoveAll(dir)
		}
	}, nil
}

// gpuInfoJS asks navigator.gpu for an adapter and says what it got, or
// why not.
const gpuInfoJS = `(async () => {
  const out = { user_agent: navigator.userAgent, secure_context: isSecureContext };
  if (!navigator.gpu) { out.error = "navigator.gpu is undefined (WebGPU off: flags, or not a secure context)"; return out; }
  try {
    const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!a) { out.error = "requestAdapter() gave null: no adapter WebGPU may use (GPU blocked, driver not found)"; return out; }
    const i = a.info || {};
    out.adapter = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
    out.features = [...a.features].sort();
    out.limits = {};
    for (const k in a.limits) out.limits[k] = a.limits[k];
    const d = await a.requestDevice();
    out.device = d ? "ok" : "requestDevice() gave nothing";
  } catch (e) { out.error = String(e && e.message || e); }
  return out;
})()`

func gpuInfo(browser context.Context, page string, enc *json.Encoder) error {
	if err := chromedp.Do(browser, chromedp.Navigate(page)); err != nil {
		return fmt.Errorf("gpu info: opening %s: %w", page, err)
	}
	info, err := chromedp.Run(browser, chromedp.Evaluate[json.RawMessage](gpuInfoJS, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("gpu info: %w", err)
	}
	return enc.Encode(info)
}
