//go:build js && wasm

package main

import (
	"context"
	"errors"
	"testing"

	"github.com/tabshard/tabshard/gpu"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/worker"
)

// TestWebGPUBadBatchKernel: a TABSHARD_BATCH_KERNEL the tab does not know
// fails the stage load with the reason, before any device is opened.
func TestWebGPUBadBatchKernel(t *testing.T) {
	t.Setenv("TABSHARD_BATCH_KERNEL", "fast")
	_, err := webGPU(nil, nil)(context.Background(), nil, worker.Range{}, 1)
	if !errors.Is(err, wgsl.ErrUnsupported) {
		t.Fatalf("load with TABSHARD_BATCH_KERNEL=fast: %v", err)
	}
}

// TestWebGPUBadApart: a TABSHARD_GPU_APART naming no fusion fails the
// stage load with the reason, before any device is opened.
func TestWebGPUBadApart(t *testing.T) {
	t.Setenv("TABSHARD_GPU_APART", "rope,norm")
	_, err := webGPU(nil, nil)(context.Background(), nil, worker.Range{}, 1)
	if !errors.Is(err, gpu.ErrOption) {
		t.Fatalf("load with TABSHARD_GPU_APART=rope,norm: %v", err)
	}
}
