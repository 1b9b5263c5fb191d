package wasmworker

import (
	"context"
	"syscall/js"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// DetectGPU asks navigator.gpu for an adapter and reads its description,
// features and limits. It returns nil when the tab has no WebGPU.
func DetectGPU(ctx context.Context) *GPUInfo {
	gpu := js.Global().Get("navigator").Get("gpu")
	if gpu.IsUndefined() || gpu.IsNull() {
		return nil
	}
	adapter, err := await(ctx, gpu.Call("requestAdapter"))
	if err != nil || adapter.IsNull() || adapter.IsUndefined() {
		return nil
	}
	g := &GPUInfo{}
	if info := adapter.Get("info"); !info.IsUndefined() {
		g.Vendor, g.Architecture = str(info.Get("vendor")), str(info.Get("architecture"))
		g.Device, g.Description = str(info.Get("device")), str(info.Get("description"))
	}
	features := js.Global().Get("Array").Call("from", adapter.Get("features"))
	for i := 0; i < features.Length(); i++ {
		g.Features = append(g.Features, features.Index(i).String())
	}
	l := adapter.Get("limits")
	g.Limits = &tabshardv1.WebGPULimits{
		MaxBufferSize:                     uint64(num(l.Get("maxBufferSize"))),
		MaxStorageBufferBindingSize:       uint64(num(l.Get("maxStorageBufferBindingSize"))),
		MaxComputeWorkgroupStorageSize:    uint32(num(l.Get("maxComputeWorkgroupStorageSize"))),
		MaxComputeInvocationsPerWorkgroup: uint32(num(l.Get("maxComputeInvocationsPerWorkgroup"))),
		MaxStorageBuffersPerShaderStage:   uint32(num(l.Get("maxStorageBuffersPerShaderStage"))),
	}
	return g
}

func str(v js.Value) string {
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}

func num(v js.Value) float64 {
	if v.Type() != js.TypeNumber {
		return 0
	}
	return v.Float()
}
