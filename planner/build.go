package planner

import (
	"strings"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// build turns a solution into a Plan message.
func (s *solver) build(stages []stageRef) *tabshardv1.Plan {
	p := s.p
	plan := &tabshardv1.Plan{
		Model:          p.name,
		BlockCount:     uint32(p.blocks),
		ContextLength:  uint32(p.context),
		KvType:         tabshardv1.DType(p.opts.KVType + 1),
		SlidingWindow:  uint32(p.window),
		PrefillBatch:   uint32(p.opts.Batch),
		ActivationType: tabshardv1.DType(p.opts.ActivationType + 1),
		MaxSessions:    uint32(p.sessions()),
	}
	used := map[int]bool{}
	for i, r := range stages {
		prev := -1
		if i > 0 {
			prev = stages[i-1].dev
		}
		st := s.buildStage(i, r, prev)
		plan.Stages = append(plan.Stages, st)
		used[r.dev] = true
	}
	for k, d := range s.devs {
		if !used[k] {
			plan.UnusedDeviceIds = append(plan.UnusedDeviceIds, d.id)
		}
	}
	summarize(plan)
	return plan
}

// summarize fills the plan's totals, bottleneck and rates.
func summarize(plan *tabshardv1.Plan) {
	var slowest float64
	for i, st := range plan.Stages {
		plan.TotalWeightBytes += st.WeightBytes
		plan.TotalKvBytes += st.KvBytes
		plan.TotalPeakBytes += st.PeakBytes
		plan.PredictedLatencyMsPerToken += st.PredictedMsPerToken
		if st.PredictedMsPerToken > slowest {
			slowest, plan.BottleneckStage = st.PredictedMsPerToken, uint32(i)
		}
	}
	if slowest > 0 {
		plan.PredictedTokensPerSecond = 1000 / slowest
	}
}

// stageBuffers lists every buffer of a stage: its blocks' tensors, their
// KV caches and the extras.
func (s *solver) stageBuffers(r stageRef) (blocks, kv, extras []buffer) {
	for i := r.begin; i < r.end; i++ {
		blocks = append(blocks, s.p.block[i]...)
	}
	if r.end > r.begin {
		kv = s.p.kv
	}
	return blocks, kv, extraBuffers(s.p, r.first, r.last)
}

// buildStage describes stage i of the solution; prev is the device of the
// stage before, -1 for the first.
func (s *solver) buildStage(i int, r stageRef, prev int) *tabshardv1.Stage {
	d := &s.devs[r.dev]
	p := s.p
	st := &tabshardv1.Stage{
		Index: uint32(i), LayerBegin: uint32(r.begin), LayerEnd: uint32(r.end),
		Embedding: r.first, OutputHead: r.last, DeviceId: d.id,
		MemoryBudgetBytes: uint64(d.budget), BindingLimitBytes: uint64(d.limit),
	}
	blocks, kv, extras := s.stageBuffers(r)
	acts := sumBytes(p.acts)
	if r.last {
		acts += sumBytes(p.logits)
	}
	st.WeightBytes = uint64(sumBytes(blocks) + sumBytes(extras) - acts)
	st.KvBytes = uint64(int64(r.end-r.begin) * p.kvBlock)
	st.ActivationBytes = uint64(acts)
	peak, _ := s.memory(r.dev, r.begin, r.end, r.first, r.last)
	st.PeakBytes = uint64(peak)
	st.PaddingBytes = st.PeakBytes - st.WeightBytes - st.KvBytes - st.ActivationBytes
	s.describeBuffers(st, d.limit, blocks, extras)
	s.describeKV(st, d.limit, kv, r.end-r.begin)
	c := s.classes[d.class].extras[b2i(r.first)][b2i(r.last)]
	st.ReadBytesPerToken = uint64(p.read[r.end] - p.read[r.begin] + c.read)
	st.ComputeMsPerToken = s.time(r.dev, r.begin, r.end, r.first, r.last)
	switch {
	case prev >= 0:
		st.HopMsPerToken = s.hop[prev][r.dev]
	case !r.last:
		st.HopMsPerToken = s.hop0[r.dev]
	}
	st.PredictedMsPerToken = st.HopMsPerToken + st.ComputeMsPerToken
	return st
}

// describeBuffers records splits and the largest binding of bufs.
func (s *solver) describeBuffers(st *tabshardv1.Stage, limit int64, groups ...[]buffer) {
	for _, bufs := range groups {
		for _, b := range bufs {
			ch := split(b, limit)
			st.MaxBindingBytes = max(st.MaxBindingBytes, uint64(padTo(ch.largest)))
			if ch.chunks > 1 {
				st.Splits = append(st.Splits, tensorSplit(b, ch))
			}
		}
	}
}

// describeKV records the KV cache buffers, which every block of the
// stage has alike.
func (s *solver) describeKV(st *tabshardv1.Stage, limit int64, kv []buffer, blocks int) {
	if blocks == 0 {
		return
	}
	s.describeBuffers(st, limit, kv)
}

func tensorSplit(b buffer, ch chunking) *tabshardv1.TensorSplit {
	return &tabshardv1.TensorSplit{
		Tensor: b.name, Rows: uint64(b.rows), RowBytes: uint64(b.rowBytes),
		RowsPerChunk: uint64(ch.rowsPerChunk), Chunks: uint32(ch.chunks), ChunkBytes: uint64(ch.largest),
	}
}

// Fits reports whether every stage of plan is within its device's budget
// and binding limit.
func Fits(plan *tabshardv1.Plan) bool {
	for _, st := range plan.GetStages() {
		if st.GetPeakBytes() > st.GetMemoryBudgetBytes() {
			return false
		}
		if l := st.GetBindingLimitBytes(); l > 0 && st.GetMaxBindingBytes() > l {
			return false
		}
	}
	return true
}

// blockPattern names a block tensor's kind: "blk.7.ffn_up.weight" →
// "blk.*.ffn_up.weight"; other names are returned as they are.
func blockPattern(name string) string {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return name
	}
	if _, kind, ok := strings.Cut(rest, "."); ok {
		return "blk.*." + kind
	}
	return name
}
