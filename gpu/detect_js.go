//go:build js && wasm

package gpu

import (
	"context"
	"syscall/js"

	"github.com/tabshard/tabshard/kernels"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Detect opens a device and reports what a worker tells the coordinator
// when it joins: adapter, limits, features and a measured matvec
// bandwidth. It returns ErrNoWebGPU (wrapped) where WebGPU is missing, so
// the caller can fall back to the CPU.
func Detect(ctx context.Context) (*tabshardv1.Capabilities, error) {
	d, err := Open(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Capabilities(ctx, true)
}

// detectRows × detectCols of Q4_0 is the ~32 MiB matrix Detect measures.
const detectRows, detectCols = 7168, 8192

// Capabilities describes d; with measure it also times a Q4_0 matvec over
// a ~32 MiB matrix (a few hundred milliseconds on SwiftShader, about a
// millisecond on a discrete GPU).
func (d *Device) Capabilities(ctx context.Context, measure bool) (*tabshardv1.Capabilities, error) {
	c := &tabshardv1.Capabilities{
		Backend: tabshardv1.Backend_BACKEND_WEBGPU,
		Limits: &tabshardv1.WebGPULimits{
			MaxBufferSize:                     uint64(d.Limits.MaxBufferSize),
			MaxStorageBufferBindingSize:       uint64(d.Limits.MaxStorageBufferBindingSize),
			MaxComputeWorkgroupStorageSize:    uint32(d.Limits.MaxComputeWorkgroupStorageSize),
			MaxComputeInvocationsPerWorkgroup: uint32(d.Limits.MaxComputeInvocationsPerWorkgroup),
			MaxStorageBuffersPerShaderStage:   uint32(d.Limits.MaxStorageBuffersPerShaderStage),
		},
		Adapter: &tabshardv1.AdapterInfo{
			Vendor: d.Info.Vendor, Architecture: d.Info.Architecture, Device: d.Info.Device, Description: d.Info.Description,
		},
		Features: append([]string(nil), d.Features...),
	}
	if nav := js.Global().Get("navigator"); nav.Type() == js.TypeObject {
		c.UserAgent = str(nav, "userAgent")
		c.CpuCores = uint32(num(nav, "hardwareConcurrency"))
	}
	if measure {
		bw, err := d.MeasureMatVec(ctx, MatVecBench{Type: kernels.Q4_0, Rows: detectRows, Cols: detectCols, Reps: 8, Copies: 2}, 3)
		if err != nil {
			return nil, err
		}
		c.MatvecBandwidthBytesPerSecond = bw
	}
	return c, nil
}
