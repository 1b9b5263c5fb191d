//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"syscall/js"

	"github.com/tabshard/tabshard/kernels/wgsl"
)

// Buffer usage flags (GPUBufferUsage).
const (
	usageMapRead  = 0x1
	usageCopySrc  = 0x4
	usageCopyDst  = 0x8
	usageUniform  = 0x40
	usageStorage  = 0x80
	usageQueryRes = 0x200
)

// Limits are the device limits the backend plans with (the adapter's
// best, all requested when the device is created).
type Limits struct {
	MaxBufferSize                     int64
	MaxStorageBufferBindingSize       int64
	MaxComputeWorkgroupStorageSize    int
	MaxComputeInvocationsPerWorkgroup int
	MaxStorageBuffersPerShaderStage   int
	MinUniformBufferOffsetAlignment   int
}

// AdapterInfo is what the adapter says about itself.
type AdapterInfo struct {
	Vendor, Architecture, Device, Description string
	SubgroupMinSize, SubgroupMaxSize          int
}

// Device is an open WebGPU device.
type Device struct {
	adapter, device, queue js.Value
	Info                   AdapterInfo
	Limits                 Limits
	// Features lists the adapter's features, sorted; the device has
	// those of them it requested ("subgroups", "shader-f16",
	// "timestamp-query").
	Features []string
	enabled  map[string]bool
	log      *slog.Logger
	// NoSubgroups makes shaders assembled from now on reduce through
	// workgroup memory even when the device has subgroups (tests of the
	// fallback path).
	NoSubgroups bool
	// NoSplit keeps weights allocated from now on in their GGUF layout
	// even where the split layout applies (wgsl.Split), so that the
	// kernels of that layout read them (benchmarks: the direct matvec of
	// Q4_0 and Q8_0, Q6_K's int8 matvec before its split layout).
	NoSplit bool

	mu        sync.Mutex
	errs      []string
	pipelines map[string]*Pipeline
	encode    js.Value // the JS function that records and submits a pass
	staging   js.Value // a Uint8Array for uploads
	readback  *Buffer  // a MAP_READ buffer for downloads
}

// requested are the optional features the backend uses when present.
var requested = []string{"subgroups", "shader-f16", "timestamp-query"}

// limitNames are the adapter limits requested at their maximum.
var limitNames = []string{
	"maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
	"maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
	"maxComputeWorkgroupsPerDimension", "maxStorageBuffersPerShaderStage", "maxUniformBuffersPerShaderStage",
	"maxBindingsPerBindGroup",
}

// Open requests a high-performance adapter and a device with the
// adapter's limits and the optional features it has. log may be nil.
func Open(ctx context.Context, log *slog.Logger) (*Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gpu := js.Global().Get("navigator")
	if gpu.Type() == js.TypeObject {
		gpu = gpu.Get("gpu")
	}
	if gpu.Type() != js.TypeObject {
		return nil, fmt.Errorf("%w: no navigator.gpu", ErrNoWebGPU)
	}
	adapter, err := await(ctx, gpu.Call("requestAdapter", object("powerPreference", "high-performance")))
	if err != nil {
		return nil, err
	}
	if adapter.Type() != js.TypeObject {
		return nil, fmt.Errorf("%w: requestAdapter gave no adapter", ErrNoWebGPU)
	}
	d := &Device{adapter: adapter, log: log, enabled: map[string]bool{}, pipelines: map[string]*Pipeline{}}
	d.readAdapter()
	features := []any{}
	for _, f := range requested {
		if slices.Contains(d.Features, f) {
			features = append(features, f)
			d.enabled[f] = true
		}
	}
	limits := object()
	al := adapter.Get("limits")
	for _, n := range limitNames {
		if v := al.Get(n); v.Type() == js.TypeNumber {
			limits.Set(n, v)
		}
	}
	dev, err := await(ctx, adapter.Call("requestDevice", object("requiredFeatures", array(features...), "requiredLimits", limits)))
	if err != nil {
		return nil, err
	}
	d.device, d.queue = dev, dev.Get("queue")
	d.readLimits()
	d.watch()
	d.encode = js.Global().Get("Function").New("device", "queue", "list", "dims", "n", "copies", "timing", "keep", encodeJS)
	return d, nil
}

// encodeJS records dispatches [0, n) of list ([pipeline, bindGroup]
// pairs) with workgroup counts dims[3i:3i+3] (x = 0 skips one) in one
// compute pass, then the buffer copies (src, srcOff, dst, dstOff, size
// quintuples), and submits it all at once: per call this crosses from Go
// to JavaScript once, not three times per dispatch. timing, when not null,
// is [querySet, resolveBuffer]: the pass's start and end timestamps are
// written to it. With keep, the command buffer is returned instead of
// submitted (see Program.Prepare).
const encodeJS = `
const enc = device.createCommandEncoder();
if (n > 0) {
  const desc = {};
  if (timing) desc.timestampWrites = { querySet: timing[0], beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
  const pass = enc.beginComputePass(desc);
  let last = null;
  for (let i = 0; i < n; i++) {
    const x = dims[3 * i];
    if (x === 0) continue;
    const it = list[i];
    if (it[0] !== last) { pass.setPipeline(it[0]); last = it[0]; }
    pass.setBindGroup(0, it[1]);
    pass.dispatchWorkgroups(x, dims[3 * i + 1], dims[3 * i + 2]);
  }
  pass.end();
  if (timing) enc.resolveQuerySet(timing[0], 0, 2, timing[1], 0);
}
for (let i = 0; i < copies.length; i += 5) {
  enc.copyBufferToBuffer(copies[i], copies[i + 1], copies[i + 2], copies[i + 3], copies[i + 4]);
}
const cb = enc.finish();
if (keep) return cb;
queue.submit([cb]);
return null;
`

func (d *Device) readAdapter() {
	info := d.adapter.Get("info")
	if info.Type() == js.TypeObject {
		d.Info = AdapterInfo{
			Vendor: str(info, "vendor"), Architecture: str(info, "architecture"),
			Device: str(info, "device"), Description: str(info, "description"),
			SubgroupMinSize: int(num(info, "subgroupMinSize")), SubgroupMaxSize: int(num(info, "subgroupMaxSize")),
		}
	}
	fs := js.Global().Get("Array").Call("from", d.adapter.Get("features"))
	for i := 0; i < fs.Length(); i++ {
		d.Features = append(d.Features, fs.Index(i).String())
	}
	sort.Strings(d.Features)
}

func (d *Device) readLimits() {
	l := d.device.Get("limits")
	d.Limits = Limits{
		MaxBufferSize:                     int64(num(l, "maxBufferSize")),
		MaxStorageBufferBindingSize:       int64(num(l, "maxStorageBufferBindingSize")),
		MaxComputeWorkgroupStorageSize:    int(num(l, "maxComputeWorkgroupStorageSize")),
		MaxComputeInvocationsPerWorkgroup: int(num(l, "maxComputeInvocationsPerWorkgroup")),
		MaxStorageBuffersPerShaderStage:   int(num(l, "maxStorageBuffersPerShaderStage")),
		MinUniformBufferOffsetAlignment:   int(num(l, "minUniformBufferOffsetAlignment")),
	}
	if d.Limits.MinUniformBufferOffsetAlignment == 0 {
		d.Limits.MinUniformBufferOffsetAlignment = 256
	}
}

// watch records uncaptured errors and device loss.
func (d *Device) watch() {
	d.device.Set("onuncapturederror", js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "uncaptured error"
		if len(args) > 0 {
			msg = args[0].Get("error").Get("message").String()
		}
		d.fail(msg)
		return nil
	}))
	d.device.Get("lost").Call("then", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 && str(args[0], "reason") != "destroyed" {
			d.fail("device lost: " + str(args[0], "message"))
		}
		return nil
	}))
}

func (d *Device) fail(msg string) {
	d.log.Error("webgpu", "error", msg)
	d.mu.Lock()
	d.errs = append(d.errs, msg)
	d.mu.Unlock()
}

// Err returns the first error the device reported since the last call,
// wrapping ErrDevice, and forgets them.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) == 0 {
		return nil
	}
	err := fmt.Errorf("%w: %s (and %d more)", ErrDevice, d.errs[0], len(d.errs)-1)
	d.errs = nil
	return err
}

// Has reports whether the device was created with feature f.
func (d *Device) Has(f string) bool { return d.enabled[f] }

// WGSL is what shader assembly needs to know of the device.
func (d *Device) WGSL() wgsl.Device {
	return wgsl.Device{Subgroups: d.Has("subgroups") && !d.NoSubgroups, SubgroupMaxSize: d.Info.SubgroupMaxSize,
		WorkgroupStorage: d.Limits.MaxComputeWorkgroupStorageSize}
}

// Close destroys the device and everything on it.
func (d *Device) Close() {
	if d.device.Type() == js.TypeObject {
		d.device.Call("destroy")
	}
}
