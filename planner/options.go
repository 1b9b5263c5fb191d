package planner

import (
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
)

// DefaultContext is the context planned for when Options.Context is 0 and
// the model allows at least this many positions.
const DefaultContext = 4096

// WebGPU's default limits, which a device that reports none gets.
const (
	DefaultMaxBufferSize  = 256 << 20
	DefaultMaxBindingSize = 128 << 20
)

// Link is the speed of a message between two devices.
type Link struct {
	LatencyMs float64
	// BandwidthBytesPerSecond is the rate past the latency.
	BandwidthBytesPerSecond float64
}

// Options tune a plan. The zero value is not valid: start from
// DefaultOptions.
type Options struct {
	// Context is how many positions each stage's KV cache holds; 0 means
	// the model's context length, at most DefaultContext.
	Context int
	// Sessions is how many sessions' KV caches each stage holds at once,
	// each of Context positions; 0 means 1.
	Sessions int
	// KVType is the KV cache's element type: F16, Q8_0 or F32.
	KVType kernels.DType
	// ActivationType is the type hidden states travel between stages as:
	// F32 (the zero value: exact) or F16 (half the bytes, rounded at
	// every hop). It sizes each hop's message and the plan carries it to
	// the workers.
	ActivationType kernels.DType
	// SlidingWindow, when positive, caps attention to the last N
	// positions, replacing the model's window; 0 keeps the model's.
	SlidingWindow int
	// Standby is how many standby devices each stage needs.
	Standby int
	// Stages, when positive, is the exact number of stages the plan has;
	// 0 lets the objective choose.
	Stages int
	// Batch is how many positions a stage runs at once in prefill; it
	// sizes the activation buffers, and the plan carries it to every
	// stage (a WebGPU stage's submissions, a worker's prompt pieces). 0
	// lets the planner choose: MaxPrefillBatch, or fewer where a WebGPU
	// device's binding limit or the devices' memory requires (the plan's
	// notes say why).
	Batch int
	// Link is the link between devices that report none.
	Link Link
	// WebGPUBandwidth and CPUBandwidth are the matvec bandwidths, in bytes
	// per second, assumed for devices that report none.
	WebGPUBandwidth float64
	CPUBandwidth    float64
}

// DefaultOptions: the model's context up to 4096 positions, an f32 KV
// cache (what every backend stores: a WebGPU stage keeps f32 only, and a
// worker allocates the type the plan says, so the budget is the truth),
// the prefill batch the planner chooses (Batch 0), no standby, links of
// 0.5 ms and 1 GB/s (BroadcastChannel between tabs of one browser), and
// 100 GB/s (WebGPU) or 10 GB/s (CPU) for devices that have not measured
// their bandwidth.
func DefaultOptions() Options {
	return Options{
		KVType:          kernels.F32,
		Link:            Link{LatencyMs: 0.5, BandwidthBytesPerSecond: 1e9},
		WebGPUBandwidth: 100e9,
		CPUBandwidth:    10e9,
	}
}

// Validate checks the options on their own; Plan checks them against the
// model (context length, head size for Q8_0).
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Context < 0:
		return bad("context %d is negative", o.Context)
	case o.Sessions < 0:
		return bad("session count %d is negative", o.Sessions)
	case o.KVType != kernels.F16 && o.KVType != kernels.Q8_0 && o.KVType != kernels.F32:
		return bad("KV type %s (want f16, q8_0 or f32)", o.KVType)
	case o.ActivationType != kernels.F32 && o.ActivationType != kernels.F16:
		return bad("activation type %s (want f32 or f16)", o.ActivationType)
	case o.SlidingWindow < 0:
		return bad("sliding window %d is negative", o.SlidingWindow)
	case o.Standby < 0:
		return bad("standby count %d is negative", o.Standby)
	case o.Stages < 0:
		return bad("stage count %d is negative", o.Stages)
	case o.Batch < 0:
		return bad("prefill batch %d is negative (0 lets the planner choose)", o.Batch)
	case !finite(o.Link.LatencyMs) || o.Link.LatencyMs < 0:
		return bad("link latency %g ms", o.Link.LatencyMs)
	case !positive(o.Link.BandwidthBytesPerSecond):
		return bad("link bandwidth %g B/s", o.Link.BandwidthBytesPerSecond)
	case !positive(o.WebGPUBandwidth) || !positive(o.CPUBandwidth):
		return bad("default bandwidths %g and %g B/s must be positive", o.WebGPUBandwidth, o.CPUBandwidth)
	}
	return nil
}

func finite(x float64) bool   { return !math.IsNaN(x) && !math.IsInf(x, 0) }
func positive(x float64) bool { return finite(x) && x > 0 }
