package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// randomModel is a small Llama-family model with random shape, policy,
// tied or untied head and Q/K/V biases.
func randomModel(r *rand.Rand, maxLayers int) *Model {
	heads := 1 + r.IntN(4)
	kvHeads := []int{1, heads}[r.IntN(2)]
	p := &preset.Preset{
		Name: "random", Title: "random", Arch: model.ArchLlama,
		Layers: 1 + r.IntN(maxLayers), Dim: 32 * heads, FFNDim: 32 * (1 + r.IntN(8)),
		Heads: heads, KVHeads: kvHeads, Vocab: 32 * (4 + r.IntN(60)), Context: 64 + r.IntN(512),
		RopeBase: 10000, NormEps: 1e-5, TiedOutput: r.IntN(3) == 0,
	}
	if r.IntN(3) == 0 {
		p.Arch, p.QKVBias = model.ArchQwen2, true
	}
	if r.IntN(4) == 0 {
		p.SlidingWindow = 16 + r.IntN(64)
	}
	names := quantize.Names()
	pol, err := quantize.Parse(names[r.IntN(len(names))])
	if err != nil {
		panic(err)
	}
	return FromPreset(p, pol)
}

// modelBytes is every tensor's size, computed independently of the
// planner's profile.
func modelBytes(m *Model) (total, embed int64) {
	for _, t := range m.Tensors {
		rb, err := t.Type.RowBytes(int64(t.Dims[0]))
		if err != nil {
			panic(err)
		}
		n := rb
		for _, d := range t.Dims[1:] {
			n *= int64(d)
		}
		total += n
		if t.Name == "token_embd.weight" {
			embed = n
		}
	}
	return total, embed
}

// randomFleet is n devices whose budgets are around scale bytes: some too
// small for a block, some with binding limits that force splits, random
// speeds and links, some pairwise.
func randomFleet(r *rand.Rand, n int, scale int64) []*tabshardv1.Device {
	linked := r.IntN(3) > 0 // a third of the fleets have uniform links
	out := make([]*tabshardv1.Device, n)
	for i := range out {
		c := &tabshardv1.Capabilities{
			Backend:                       tabshardv1.Backend(1 + r.IntN(2)),
			MemoryBudgetBytes:             uint64(float64(scale) * (0.05 + r.Float64())),
			MatvecBandwidthBytesPerSecond: 1e9 * (1 + 100*r.Float64()),
		}
		if r.IntN(2) == 0 {
			lim := uint64(scale/int64(8+r.IntN(64))) + 1024
			c.Limits = &tabshardv1.WebGPULimits{MaxBufferSize: lim + uint64(r.IntN(4096)), MaxStorageBufferBindingSize: lim}
		}
		out[i] = &tabshardv1.Device{Id: fmt.Sprintf("r%d", i), Capabilities: c}
		if linked && r.IntN(2) == 0 {
			out[i].Links = append(out[i].Links, &tabshardv1.DeviceLink{LatencyMs: 2 * r.Float64(), BandwidthBytesPerSecond: 1e8 * (1 + r.Float64())})
		}
	}
	for i := range out {
		if j := r.IntN(n); linked && j != i && r.IntN(2) == 0 {
			out[i].Links = append(out[i].Links, &tabshardv1.DeviceLink{PeerDeviceId: out[j].Id, LatencyMs: 5 * r.Float64(), BandwidthBytesPerSecond: 1e7 * (1 + r.Float64())})
		}
	}
	return out
}

// randomOptions varies the context, KV type, window, batch and standbys.
func randomOptions(r *rand.Rand, m *Model, standby bool) Options {
	o := DefaultOptions()
	o.Context = 1 + r.IntN(m.Config.ContextLength)
	o.KVType = []kernels.DType{kernels.F16, kernels.F32, kernels.Q8_0}[r.IntN(3)]
	if m.Config.HeadDim%32 != 0 {
		o.KVType = kernels.F16
	}
	if r.IntN(5) == 0 {
		o.SlidingWindow = 1 + r.IntN(64)
	}
	o.Batch = 1 + r.IntN(64)
	if r.IntN(3) == 0 {
		o.Sessions = 1 + r.IntN(8)
	}
	if standby {
		o.Standby = r.IntN(3)
	}
	return o
}

// needBytes is what the whole model needs in memory under o, about.
func needBytes(t testing.TB, m *Model, o Options) int64 {
	p, err := newProfile(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return p.totalWeights() + int64(p.blocks)*p.kvBlock + sumBytes(p.acts) + sumBytes(p.logits)
}
