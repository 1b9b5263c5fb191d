// Package wasmworker is a tabshard worker inside a browser tab. The tab
// runs the same agent as a native worker (package worker/agent); this
// package adds what a page has and a process has not: the join token and
// options in the page URL, NATS over the page's WebSocket, capability
// detection (WebGPU adapter, limits, features, a measured matvec
// bandwidth, a memory budget), a weight cache in browser storage, the page
// lifecycle as a health signal, and a status the worker page draws.
//
// The logic lives in files without build tags and is tested natively: a
// test runs Worker against an in-process coordinator over a real NATS
// WebSocket. The *_js.go files are the thin glue to syscall/js (WebSocket,
// Cache Storage, navigator.gpu, page events), and cmd/worker is the
// GOOS=js GOARCH=wasm entry that the worker page loads as worker.wasm.
package wasmworker
