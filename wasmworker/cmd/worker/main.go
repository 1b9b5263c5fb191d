//go:build js && wasm

// Command worker is the tabshard worker a browser tab runs: the worker
// page (/worker?token=T) loads it as worker.wasm. Build it with
// `make wasm-worker`.
package main

import (
	"io"
	"log/slog"

	"github.com/tabshard/tabshard/gpu"
	"github.com/tabshard/tabshard/wasmworker"
	"github.com/tabshard/tabshard/worker/agent"
)

func main() {
	wasmworker.RunPage(wasmworker.PageOptions{GPUBackend: webGPU})
	select {} // keep the page's event handlers callable after the worker stops
}

// webGPU is the WebGPU backend of package gpu, streaming tensors from src.
func webGPU(src io.ReaderAt, log *slog.Logger) agent.Loader {
	return gpu.Loader(gpu.Options{Source: src, Logger: log})
}
