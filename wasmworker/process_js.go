//go:build js && wasm

package wasmworker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall/js"
	"time"

	"github.com/tabshard/tabshard/worker/agent"
)

// RunProcess runs a worker outside any page: a Node.js process standing
// in for a tab, with WebGPU from Dawn (navigator.gpu defined by a
// preload), fetch for HTTP and WebSocket for NATS. It is how one machine
// runs many "tabs" with a device each (scripts/bench-pipeline). Its links to
// other workers are NATS only: separate processes share no
// BroadcastChannel, and Node has no WebRTC. args are the command line
// after the program name.
func RunProcess(o PageOptions, args []string) error {
	fs := flag.NewFlagSet("tabshard-tab", flag.ContinueOnError)
	coord := fs.String("coordinator", "", "the coordinator's HTTP address, e.g. http://127.0.0.1:8080 (required)")
	token := fs.String("join-token", "", "the cluster's join token (required)")
	name := fs.String("name", "", "the worker's name (default: node-<pid>)")
	backend := fs.String("backend", "auto", "auto, webgpu or cpu")
	memoryMB := fs.Uint64("memory-mb", 0, "memory budget in MiB (default: half of 8 GiB on WebGPU)")
	verbose := fs.Bool("v", false, "log debug detail")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := processReady(); err != nil {
		return err
	}
	if *name == "" {
		*name = fmt.Sprintf("node-%d", os.Getpid())
	}
	q := url.Values{"token": {*token}, "name": {*name}, "backend": {*backend}}
	if *memoryMB > 0 {
		q.Set("memory_mb", fmt.Sprint(*memoryMB))
	}
	p, err := ParseParams(strings.TrimRight(*coord, "/") + "/worker?" + q.Encode())
	if err != nil {
		return fmt.Errorf("--coordinator %q --join-token: %w", *coord, err)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("worker", *name)
	ctx := context.Background()
	env := Env{DialNATS: DialWebSocket, Transport: RangeFetchTransport{Next: http.DefaultTransport}, UserAgent: str(js.Global().Get("navigator").Get("userAgent")), Logger: log,
		OnStatus: phaseLogger(log)}
	if o.GPUBackend != nil {
		env.GPUBackend = func(src io.ReaderAt) agent.Loader { return o.GPUBackend(src, log) }
	}
	if p.Backend != BackendCPU {
		env.GPU = DetectGPU(ctx)
		if env.GPU != nil && o.GPUBandwidth != nil && o.GPUBackend != nil {
			env.GPUBandwidth = o.GPUBandwidth(ctx)
		}
	}
	return New(p, env).Run(ctx)
}

// processReady checks what a Node process must provide.
func processReady() error {
	g := js.Global()
	if g.Get("WebSocket").Type() != js.TypeFunction {
		return errors.New("no WebSocket in this runtime: run Node.js 22+, or Node.js 20 with --experimental-websocket")
	}
	if g.Get("fetch").Type() != js.TypeFunction {
		return errors.New("no fetch in this runtime: run Node.js 18 or later")
	}
	// net/http turns fetch off when argv0 starts with "node" (its tests
	// use a fake network then): start Node by its path instead.
	if p := g.Get("process"); p.Type() == js.TypeObject && strings.HasPrefix(str(p.Get("argv0")), "node") {
		return errors.New("start Node.js by its full path (e.g. $(command -v node)): Go's net/http does not use fetch when argv0 is \"node\"")
	}
	return nil
}

// phaseLogger logs each change of phase, role or stage, and the loading
// progress every few seconds: a process has no page to show them.
func phaseLogger(log *slog.Logger) func(Status) {
	var last Status
	var lastProgress time.Time
	return func(s Status) {
		if s.Phase != last.Phase || s.Role != last.Role || s.Stage != last.Stage || s.Error != last.Error {
			log.Info("status", "phase", s.Phase, "role", s.Role, "stage", s.Stage, "layers", s.Layers, "backend", s.Backend,
				"adapter", s.Adapter, "error", s.Error)
		} else if s.Phase == PhaseLoading && time.Since(lastProgress) > 5*time.Second {
			log.Info("loading", "loaded_bytes", s.LoadedBytes, "stage_bytes", s.StageBytes)
			lastProgress = time.Now()
		}
		last = s
	}
}
