package wasmworker

import (
	"crypto/rand"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/kernels"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// GPUInfo is what a tab learned from navigator.gpu: the adapter and the
// limits and features of the device it may request. Nil means no WebGPU.
type GPUInfo struct {
	Vendor, Architecture, Device, Description string
	Features                                  []string
	Limits                                    *tabshardv1.WebGPULimits
}

// Name is a short description of the adapter for the worker page.
func (g *GPUInfo) Name() string {
	if g == nil {
		return ""
	}
	s := g.Vendor
	if g.Architecture != "" {
		s += " " + g.Architecture
	}
	if g.Device != "" {
		s += " " + g.Device
	}
	if s == "" {
		s = g.Description
	}
	return s
}

// wasmAddressSpace is what a wasm32 module can address at most.
const wasmAddressSpace = 4 << 30

// defaultDeviceMemory is assumed when the browser does not say
// (navigator.deviceMemory is absent outside Chromium and capped at 8).
const defaultDeviceMemory = 4 << 30

// MemoryBudget is the memory a tab offers the planner. The CPU backend
// keeps weights, KV cache and activations in wasm memory, which Go's wasm32
// port caps well below 4 GiB and which the tab shares with other tabs: a
// quarter of the device memory, at most 1.5 GiB. The WebGPU backend keeps
// them in GPU buffers, outside wasm memory: half the device memory.
// deviceMemory is navigator.deviceMemory in bytes (0: unknown).
func MemoryBudget(backend tabshardv1.Backend, deviceMemory uint64) uint64 {
	if deviceMemory == 0 {
		deviceMemory = defaultDeviceMemory
	}
	if backend == tabshardv1.Backend_BACKEND_WEBGPU {
		return deviceMemory / 2
	}
	return min(deviceMemory/4, wasmAddressSpace*3/8)
}

// MeasureCPUBandwidth times f32 matrix-vector products over about 1 MiB of
// weights for roughly d and returns the bytes of weights read per second:
// the figure the planner balances CPU stages with.
func MeasureCPUBandwidth(d time.Duration) float64 {
	const rows, cols = 256, 1024
	w := make([]byte, rows*cols*4)
	x := make([]float32, cols)
	y := make([]float32, rows)
	for i := range x {
		x[i] = float32(i%7) * 0.25
	}
	_ = kernels.MatVecRows(kernels.F32, w, cols, 0, rows, x, y) // warm up (a tab compiles in tiers)
	start := time.Now()
	n := 0
	for n == 0 || time.Since(start) < d {
		if err := kernels.MatVecRows(kernels.F32, w, cols, 0, rows, x, y); err != nil {
			return 0
		}
		n++
	}
	return float64(n*len(w)) / time.Since(start).Seconds()
}

// Capabilities are what a tab reports when it joins.
func Capabilities(backend tabshardv1.Backend, gpu *GPUInfo, budget uint64, bandwidth float64, userAgent string) *tabshardv1.Capabilities {
	c := &tabshardv1.Capabilities{
		Backend: backend, MemoryBudgetBytes: budget, MatvecBandwidthBytesPerSecond: bandwidth,
		CpuCores: 1, UserAgent: userAgent, // Go's wasm port runs on one thread
	}
	if gpu != nil {
		c.Adapter = &tabshardv1.AdapterInfo{Vendor: gpu.Vendor, Architecture: gpu.Architecture, Device: gpu.Device, Description: gpu.Description}
		c.Features = gpu.Features
		if backend == tabshardv1.Backend_BACKEND_WEBGPU {
			c.Limits = gpu.Limits
		}
	}
	return c
}

// WithLinks returns c with the tab's browser id and the direct links it
// can use besides NATS: the links of its transports (BroadcastChannel when
// the page has it, WebRTC when it has RTCPeerConnection). The leader picks
// BroadcastChannel only between tabs of one browser id, and WebRTC between
// any two workers that offer it.
func WithLinks(c *tabshardv1.Capabilities, browserID string, links []tabshardv1.Link) *tabshardv1.Capabilities {
	c = proto.Clone(c).(*tabshardv1.Capabilities)
	c.BrowserId, c.Links = browserID, links
	return c
}

// NewBrowserID makes a random browser id (128 bits of crypto/rand).
func NewBrowserID() string { return rand.Text() }
