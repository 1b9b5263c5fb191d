//go:build js && wasm

// Command tab is the tab worker as a Node.js process: a stand-in for a
// browser tab with a WebGPU device of its own (Dawn's npm package
// "webgpu"), so that one machine can run many. Build it with
// `make wasm-tab`; scripts/tab-worker starts it with the preload that
// defines navigator.gpu.
//
//	tab --coordinator http://127.0.0.1:8080 --join-token T [--backend webgpu] [--memory-mb M]
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tabshard/tabshard/gpu"
	"github.com/tabshard/tabshard/wasmworker"
	"github.com/tabshard/tabshard/worker/agent"
)

func main() {
	err := wasmworker.RunProcess(wasmworker.PageOptions{GPUBackend: webGPU}, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tab:", err)
		os.Exit(1)
	}
}

func webGPU(src io.ReaderAt, log *slog.Logger) agent.Loader {
	return gpu.Loader(gpu.Options{Source: src, Logger: log})
}
