package wasmworker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"syscall/js"

	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/wasmworker/link"
	"github.com/tabshard/tabshard/worker/agent"
)

// PageOptions are what the wasm entry adds to a page's worker.
type PageOptions struct {
	// GPUBackend makes the WebGPU Loader for a model read from src; nil
	// computes on the CPU.
	GPUBackend func(src io.ReaderAt, log *slog.Logger) agent.Loader
	// GPUBandwidth measures the WebGPU matvec bandwidth (bytes/s); nil: 0
	// (the planner assumes its WebGPU default).
	GPUBandwidth func(ctx context.Context) float64
}

// RunPage runs the worker of the page it is loaded in: it reads the
// page's address, detects WebGPU, listens to the page's lifecycle, sends
// its status to globalThis.tabshard.onStatus (a function of one JSON
// string) and works until the coordinator refuses it.
func RunPage(o PageOptions) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	page := js.Global()
	onStatus := func(s Status) {
		b, _ := json.Marshal(s)
		if hook := page.Get("tabshard"); hook.Type() == js.TypeObject && hook.Get("onStatus").Type() == js.TypeFunction {
			hook.Call("onStatus", string(b))
		}
	}
	p, err := ParseParams(page.Get("location").Get("href").String())
	if err != nil {
		onStatus(Status{Phase: PhaseRefused, Error: err.Error(), Stage: -1})
		return
	}
	env := Env{
		DialNATS: DialWebSocket, Store: storeOrNil(), Transport: RangeFetchTransport{Next: http.DefaultTransport},
		DeviceMemory: uint64(num(page.Get("navigator").Get("deviceMemory")) * (1 << 30)),
		UserAgent:    str(page.Get("navigator").Get("userAgent")), OnStatus: onStatus, Logger: log,
		BrowserID: browserID(ctx),
	}
	if o.GPUBackend != nil {
		env.GPUBackend = func(src io.ReaderAt) agent.Loader { return o.GPUBackend(src, log) }
	}
	if p.Backend != BackendCPU {
		env.GPU = DetectGPU(ctx)
		if env.GPU != nil && o.GPUBandwidth != nil && o.GPUBackend != nil {
			env.GPUBandwidth = o.GPUBandwidth(ctx)
		}
	}
	var w *Worker
	var bc atomic.Pointer[link.Broadcast]
	env.Links = func(cluster string, nc func() *nats.Conn) []link.Transport {
		var ts []link.Transport // BroadcastChannel first: same browser
		if link.Supported() {
			b := pageBroadcast(cluster, func() Status { return w.Status() })
			bc.Store(b)
			ts = append(ts, b)
		}
		if page.Get("RTCPeerConnection").Type() == js.TypeFunction {
			ts = append(ts, link.NewWebRTC(cluster, nc, link.WebRTCOptions{Logger: log}))
		}
		return ts
	}
	w = New(p, env)
	listenLifecycle(w, func() {
		if b := bc.Load(); b != nil {
			b.Leave()
		}
	})
	if err := w.Run(ctx); err != nil {
		log.Error("worker stopped", "err", err)
	}
}

// pageBroadcast opens the BroadcastChannel transport of cluster, whose
// hellos tell the other tabs and the dashboard the worker's status.
func pageBroadcast(cluster string, status func() Status) *link.Broadcast {
	b := link.NewBroadcast(cluster)
	b.Presence = func() any {
		s := status()
		return map[string]any{"worker": s.WorkerID, "name": s.Name, "stage": s.Stage, "role": s.Role, "links": linksJSON(s.Links),
			"forward_ms": s.ForwardMs, "tokens_per_second": s.TokensPerSecond}
	}
	return b
}

// browserIDKey is where tabs keep their browser's id in localStorage.
const browserIDKey = "tabshard-browser-id"

// browserID is the id every tab of this browser profile and origin shares
// (localStorage is shared as BroadcastChannel is): the first tab makes a
// random one and keeps it under browserIDKey. Tabs starting together make
// it under a Web Lock, so that they agree (navigator.locks exists only in
// secure contexts: elsewhere tabs that start at the same instant may
// disagree, and the leader then joins them by WebRTC). "" when the page
// may not use localStorage.
func browserID(ctx context.Context) string {
	locks := js.Global().Get("navigator").Get("locks")
	if locks.Type() != js.TypeObject {
		return storedBrowserID()
	}
	fn := js.FuncOf(func(js.Value, []js.Value) any { return storedBrowserID() })
	defer fn.Release()
	v, err := await(ctx, locks.Call("request", browserIDKey, fn))
	if err != nil || v.Type() != js.TypeString {
		return storedBrowserID()
	}
	return v.String()
}

// storedBrowserID reads the browser id from localStorage, or makes and
// stores one.
func storedBrowserID() (id string) {
	defer func() {
		if recover() != nil { // localStorage throws where storage is denied
			id = ""
		}
	}()
	ls := js.Global().Get("localStorage")
	if ls.Type() != js.TypeObject {
		return ""
	}
	if v := ls.Call("getItem", browserIDKey); v.Type() == js.TypeString && v.String() != "" {
		return v.String()
	}
	id = NewBrowserID()
	ls.Call("setItem", browserIDKey, id)
	return id
}

// linksJSON turns link statuses into values js.ValueOf takes.
func linksJSON(ls []LinkStatus) []any {
	out := make([]any, len(ls))
	for i, l := range ls {
		out[i] = map[string]any{"peer": l.Peer, "kind": l.Kind, "state": l.State, "sent": l.Sent, "recv": l.Recv}
	}
	return out
}

// storeOrNil avoids a typed nil in the Store interface.
func storeOrNil() Store {
	if s := NewCacheStore("tabshard-weights-v1"); s != nil {
		return s
	}
	return nil
}

// listenLifecycle forwards visibilitychange, freeze, resume, pagehide and
// pageshow to the worker. The handlers never block on the event loop.
func listenLifecycle(w *Worker, leave func()) {
	doc := js.Global().Get("document")
	visibility := func() {
		if doc.Get("visibilityState").String() == "hidden" {
			w.PageEvent(EventHidden)
		} else {
			w.PageEvent(EventVisible)
		}
	}
	add := func(target js.Value, event string, fn func()) {
		target.Call("addEventListener", event, js.FuncOf(func(js.Value, []js.Value) any {
			fn()
			return nil
		}))
	}
	add(doc, "visibilitychange", visibility)
	add(doc, "freeze", func() { w.PageEvent(EventFreeze) })
	add(doc, "resume", func() { w.PageEvent(EventResume) })
	add(js.Global(), "pagehide", func() {
		w.PageEvent(EventPageHide)
		leave()
	})
	add(js.Global(), "pageshow", func() { w.PageEvent(EventPageShow) })
	visibility()
}
