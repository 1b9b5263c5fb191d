//go:build js && wasm

// Command tab is the tab worker as a Node.js process: a stand-in for a
// browser tab with a WebGPU device of its own (Dawn's npm package
// "webgpu"), so that one machine can run many. Build it with
// `make wasm-tab`; scripts/tab-worker starts it with the preload that
// defines navigator.gpu.
//
//	tab --coordinator http://127.0.0.1:8080 --join-token T [--backend webgpu] [--memory-mb M]
//	tab read-bandwidth [MiB]   # the device's plain read kernel, in GB/s
//	tab load MODEL_URL [BEGIN END]   # load a stage's weights over HTTP Range: rate, heap (JSON)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tabshard/tabshard/gpu"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/wasmworker"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "read-bandwidth":
		err = readBandwidth(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "load":
		err = measureLoad(os.Args[2:])
	default:
		err = wasmworker.RunProcess(wasmworker.PageOptions{GPUBackend: webGPU}, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tab:", err)
		os.Exit(1)
	}
}

// webGPU is the WebGPU backend: a stage runs the plan's prefill batch of
// positions a submission (planner.MaxPrefillBatch unless the devices'
// limits ask for fewer), as a browser tab's does.
// TABSHARD_PREFILL_ATTN=onepass records a prefill's attention in one pass
// as before split attention (gpu.Options.OnePassPrefill), and split1 split
// attention one query head a workgroup (gpu.Options.PrefillHeadsPerWorkgroup),
// so that scripts/bench-pipeline can compare them; TABSHARD_BATCH_KERNEL=old
// runs batches through the earlier batched matvec (gpu.Options.BatchKernel;
// a name it does not know fails every stage load with the reason);
// TABSHARD_GPU_APART names decoding's fusions to leave apart
// (gpu.Options.SetApart; likewise).
func webGPU(src io.ReaderAt, log *slog.Logger) agent.Loader {
	o := gpu.Options{Source: src, Logger: log}
	switch os.Getenv("TABSHARD_PREFILL_ATTN") {
	case "onepass":
		o.OnePassPrefill = true
	case "split1":
		o.PrefillHeadsPerWorkgroup = 1
	}
	k, err := wgsl.ParseBatchKernel(os.Getenv("TABSHARD_BATCH_KERNEL"))
	if err != nil {
		return func(context.Context, *model.Model, worker.Range, int) (agent.Compute, error) {
			return nil, fmt.Errorf("TABSHARD_BATCH_KERNEL: %w", err)
		}
	}
	o.BatchKernel = k
	if err := o.SetApart(os.Getenv("TABSHARD_GPU_APART")); err != nil {
		return func(context.Context, *model.Model, worker.Range, int) (agent.Compute, error) {
			return nil, fmt.Errorf("TABSHARD_GPU_APART: %w", err)
		}
	}
	return gpu.Loader(o)
}

// readBandwidth prints the bandwidth of the plain read kernel (the one
// the kernel benchmarks compare with) over a buffer of args[0] MiB
// (default 1024), best of 5 submissions of 20 passes.
func readBandwidth(args []string) error {
	mib := 1024
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return fmt.Errorf("read-bandwidth %q: want a size in MiB", args[0])
		}
		mib = n
	}
	ctx := context.Background()
	d, err := gpu.Open(ctx, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	bw, err := d.MeasureRead(ctx, int64(mib)<<20, 20, 5)
	if err != nil {
		return err
	}
	fmt.Printf("read_bandwidth_gbs %.1f\n", bw/1e9)
	return nil
}

// measureLoad loads blocks [BEGIN, END) of the model at args[0] (default:
// the whole file, embedding and head included) onto the GPU through HTTP
// Range requests, as a worker does, and prints the LoadReport as JSON.
func measureLoad(args []string) error {
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("load: want MODEL_URL [BEGIN END]")
	}
	var r worker.Range
	if len(args) == 3 {
		b, err1 := strconv.Atoi(args[1])
		e, err2 := strconv.Atoi(args[2])
		if err1 != nil || err2 != nil || b < 0 || e <= b {
			return fmt.Errorf("load: blocks %q %q: want 0 <= BEGIN < END", args[1], args[2])
		}
		r = worker.Range{Begin: b, End: e}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, err := wasmworker.MeasureLoad(context.Background(), args[0], r, func(src io.ReaderAt) agent.Loader { return webGPU(src, log) },
		wasmworker.RangeFetchTransport{Next: http.DefaultTransport}, nil, time.Now)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
