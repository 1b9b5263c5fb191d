package planner

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// TestPlanProperties plans random models on random fleets and checks
// every plan against what must hold, recomputing each number
// independently of the planner where it can, and every infeasible answer
// against its own suggestions.
func TestPlanProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var plans, infeasible int
	for i := range 300 {
		m := randomModel(r, 40)
		o := randomOptions(r, m, true)
		n := 1 + r.IntN(16)
		devs := randomFleet(r, n, int64(2+r.IntN(8))*needBytes(t, m, o)/int64(n))
		plan, err := Plan(m, devs, o)
		var ie *InfeasibleError
		switch {
		case errors.As(err, &ie):
			infeasible++
			checkInfeasible(t, i, m, devs, o, ie)
		case err != nil:
			t.Fatalf("case %d: %v", i, err)
		default:
			plans++
			checkPlan(t, i, m, devs, o, plan)
		}
	}
	t.Logf("%d plans, %d infeasible", plans, infeasible)
	if plans < 100 || infeasible < 30 {
		t.Fatalf("%d plans, %d infeasible: the generator needs tuning", plans, infeasible)
	}
}

// checkPlan checks one plan's invariants.
func checkPlan(t *testing.T, i int, m *Model, devs []*tabshardv1.Device, o Options, plan *tabshardv1.Plan) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("case %d (%s): "+format, append([]any{i, m.Name}, args...)...)
	}
	checkCoverage(plan, m.Config.Layers, fail)
	idx := map[string]int{}
	for k, d := range devs {
		idx[d.Id] = k
	}
	checkDevices(plan, devs, idx, fail)
	checkBytes(plan, m, o, fail)
	checkLimits(plan, devs, idx, fail)
	checkTimes(plan, fail)
	checkStandbys(plan, m, devs, o, idx, fail)
	// Standbys may hold devices out of the partition; without them, the
	// proportional split is one of the plans the optimum is chosen from.
	if prop, err := Proportional(m, devs, o); err == nil && Fits(prop) && o.Standby == 0 {
		if plan.GetStages()[plan.BottleneckStage].PredictedMsPerToken > prop.GetStages()[prop.BottleneckStage].PredictedMsPerToken*(1+1e-9) {
			fail("bottleneck worse than the memory-proportional split's:\n%s\n%s", Table(plan), Table(prop))
		}
	}
}

// checkCoverage: every block in exactly one stage, stages contiguous and
// in order, the embedding on the first and the head on the last.
func checkCoverage(plan *tabshardv1.Plan, layers int, fail func(string, ...any)) {
	st := plan.GetStages()
	seen := make([]int, layers)
	for i, s := range st {
		if int(s.Index) != i || s.Embedding != (i == 0) || s.OutputHead != (i == len(st)-1) {
			fail("stage %d: index %d, embedding %v, head %v", i, s.Index, s.Embedding, s.OutputHead)
		}
		if s.LayerEnd < s.LayerBegin || (s.LayerEnd == s.LayerBegin && i > 0 && i < len(st)-1) {
			fail("stage %d holds [%d,%d)", i, s.LayerBegin, s.LayerEnd)
		}
		if (i == 0 && s.LayerBegin != 0) || (i > 0 && s.LayerBegin != st[i-1].LayerEnd) {
			fail("stage %d starts at %d", i, s.LayerBegin)
		}
		for l := s.LayerBegin; l < s.LayerEnd; l++ {
			seen[l]++
		}
	}
	for l, n := range seen {
		if n != 1 {
			fail("block %d is in %d stages", l, n)
		}
	}
}

// checkDevices: devices in pipeline order, each once, the rest unused.
func checkDevices(plan *tabshardv1.Plan, devs []*tabshardv1.Device, idx map[string]int, fail func(string, ...any)) {
	prev := -1
	for _, s := range plan.GetStages() {
		k, ok := idx[s.DeviceId]
		if !ok || k <= prev {
			fail("stage %d on %q after device %d", s.Index, s.DeviceId, prev)
		}
		prev = k
		if s.MemoryBudgetBytes != devs[k].Capabilities.MemoryBudgetBytes {
			fail("stage %d budget %d", s.Index, s.MemoryBudgetBytes)
		}
	}
	if len(plan.Stages)+len(plan.UnusedDeviceIds) != len(devs) {
		fail("%d stages and %d unused devices of %d", len(plan.Stages), len(plan.UnusedDeviceIds), len(devs))
	}
}

// checkBytes recomputes weights and KV per stage from tensor names, and
// checks that peaks add up and fit.
func checkBytes(plan *tabshardv1.Plan, m *Model, o Options, fail func(string, ...any)) {
	cfg := m.Config
	perToken, _ := worker.KVBytesPerToken(cfg, 1, o.KVType)
	ctx := o.Context
	slots := int64(ctx)
	if w := max(o.SlidingWindow, cfg.SlidingWindow*b2i(o.SlidingWindow == 0)); w > 0 {
		slots = int64(min(ctx, w+63))
	}
	tied := true
	for _, t := range m.Tensors {
		tied = tied && t.Name != "output.weight"
	}
	var total uint64
	for _, s := range plan.GetStages() {
		want := stageWeights(m, s, tied)
		if s.WeightBytes != want {
			fail("stage %d: weights %d, tensors add up to %d", s.Index, s.WeightBytes, want)
		}
		if kv := uint64(int64(s.LayerEnd-s.LayerBegin) * perToken * slots * int64(max(o.Sessions, 1))); s.KvBytes != kv || plan.MaxSessions != uint32(max(o.Sessions, 1)) {
			fail("stage %d: KV %d, want %d", s.Index, s.KvBytes, kv)
		}
		if s.PeakBytes != s.WeightBytes+s.KvBytes+s.ActivationBytes+s.PaddingBytes || s.PeakBytes > s.MemoryBudgetBytes {
			fail("stage %d: peak %d of budget %d", s.Index, s.PeakBytes, s.MemoryBudgetBytes)
		}
		total += s.WeightBytes
	}
	all, embed := modelBytes(m)
	if tied && len(plan.Stages) > 1 {
		all += embed
	}
	if total != uint64(all) || plan.TotalWeightBytes != total {
		fail("weights %d (total %d), model %d", total, plan.TotalWeightBytes, all)
	}
}

// stageWeights sums the tensors a stage must hold, by name.
func stageWeights(m *Model, s *tabshardv1.Stage, tied bool) uint64 {
	var n uint64
	for _, t := range m.Tensors {
		b, _ := tensorBuffer(t)
		hold := !strings.HasPrefix(t.Name, "blk.") && !strings.HasPrefix(t.Name, "token_embd.") && !strings.HasPrefix(t.Name, "output")
		switch {
		case strings.HasPrefix(t.Name, "blk."):
			num, _, _ := strings.Cut(t.Name[4:], ".")
			l, _ := strconv.Atoi(num)
			hold = uint32(l) >= s.LayerBegin && uint32(l) < s.LayerEnd
		case t.Name == "token_embd.weight":
			hold = s.Embedding || (tied && s.OutputHead)
		case strings.HasPrefix(t.Name, "output"):
			hold = s.OutputHead
		}
		if hold {
			n += uint64(b.bytes())
		}
	}
	return n
}

// checkLimits: bindings and chunks within the device's limit.
func checkLimits(plan *tabshardv1.Plan, devs []*tabshardv1.Device, idx map[string]int, fail func(string, ...any)) {
	for _, s := range plan.GetStages() {
		c := devs[idx[s.DeviceId]].Capabilities
		want := bindingLimit(c.Backend, c.Limits)
		if int64(s.BindingLimitBytes) != want || (want > 0 && int64(s.MaxBindingBytes) > want) {
			fail("stage %d: binding %d, limit %d (device %d)", s.Index, s.MaxBindingBytes, s.BindingLimitBytes, want)
		}
		for _, sp := range s.Splits {
			ok := sp.Chunks > 1 && sp.RowsPerChunk*uint64(sp.Chunks-1) < sp.Rows && sp.Rows <= sp.RowsPerChunk*uint64(sp.Chunks) &&
				sp.ChunkBytes == sp.RowsPerChunk*sp.RowBytes && int64(sp.ChunkBytes) <= want && sp.ChunkBytes*uint64(sp.Chunks) >= sp.Rows*sp.RowBytes
			if !ok {
				fail("stage %d: split %v under limit %d", s.Index, sp, want)
			}
		}
	}
}

// checkTimes: stage times add up, and the summary matches them.
func checkTimes(plan *tabshardv1.Plan, fail func(string, ...any)) {
	var slowest, sum float64
	for _, s := range plan.GetStages() {
		if s.PredictedMsPerToken != s.HopMsPerToken+s.ComputeMsPerToken || !(s.ComputeMsPerToken > 0) || !(s.HopMsPerToken >= 0) {
			fail("stage %d: %g = %g + %g ms", s.Index, s.PredictedMsPerToken, s.HopMsPerToken, s.ComputeMsPerToken)
		}
		slowest, sum = max(slowest, s.PredictedMsPerToken), sum+s.PredictedMsPerToken
	}
	if plan.Stages[plan.BottleneckStage].PredictedMsPerToken != slowest || math.Abs(plan.PredictedTokensPerSecond-1000/slowest) > 1e-9*plan.PredictedTokensPerSecond ||
		math.Abs(plan.PredictedLatencyMsPerToken-sum) > 1e-9*sum {
		fail("summary: bottleneck %d, %g tokens/s, %g ms", plan.BottleneckStage, plan.PredictedTokensPerSecond, plan.PredictedLatencyMsPerToken)
	}
}

// checkStandbys: K distinct standbys per stage, never the stage's own
// device, each with room for the stage beside its own.
func checkStandbys(plan *tabshardv1.Plan, m *Model, devs []*tabshardv1.Device, o Options, idx map[string]int, fail func(string, ...any)) {
	s, err := prepare(m, devs, o)
	if err != nil {
		fail("%v", err)
	}
	own := make([]int64, len(devs))
	for _, st := range plan.Stages {
		own[idx[st.DeviceId]] = int64(st.PeakBytes)
	}
	for _, st := range plan.Stages {
		if len(st.StandbyDeviceIds) != o.Standby {
			fail("stage %d has %d standbys, want %d", st.Index, len(st.StandbyDeviceIds), o.Standby)
		}
		seen := map[string]bool{}
		for _, id := range st.StandbyDeviceIds {
			k := idx[id]
			mem, ok := s.memory(k, int(st.LayerBegin), int(st.LayerEnd), st.Embedding, st.OutputHead)
			if id == st.DeviceId || seen[id] || !ok || own[k]+mem > s.devs[k].budget {
				fail("stage %d: standby %s (own %d + %d of %d)", st.Index, id, own[k], mem, s.devs[k].budget)
			}
			seen[id] = true
		}
	}
}

// checkInfeasible holds an infeasible answer to its suggestions: the
// extra devices it names make the plan fit, and so does the longest
// context it names, while one position more does not.
func checkInfeasible(t *testing.T, i int, m *Model, devs []*tabshardv1.Device, o Options, e *InfeasibleError) {
	t.Helper()
	if e.ShortBytes <= 0 || e.Reason == "" || e.Devices != len(devs) {
		t.Fatalf("case %d: %+v", i, e)
	}
	if e.MoreDevices > 0 {
		more := append([]*tabshardv1.Device{}, devs...)
		big := largest(devs)
		for n := range e.MoreDevices {
			d := proto.Clone(big).(*tabshardv1.Device)
			d.Id, d.Links = "extra"+strconv.Itoa(n), nil
			d.Capabilities.MemoryBudgetBytes = uint64(e.MoreDeviceBytes)
			more = append(more, d)
		}
		o0 := o
		o0.Standby = 0 // the suggestion is for the stages; standbys need room of their own
		if _, err := Plan(m, more, o0); err != nil {
			t.Fatalf("case %d: with %d more devices of %d bytes: %v", i, e.MoreDevices, e.MoreDeviceBytes, err)
		}
	}
	if e.MaxSessions > 0 {
		os := o
		os.Sessions, os.Standby = e.MaxSessions, 0
		if _, err := Plan(m, devs, os); err != nil {
			t.Fatalf("case %d: %d sessions were said to fit: %v", i, e.MaxSessions, err)
		}
		if os.Sessions++; os.Sessions < o.Sessions {
			if _, err := Plan(m, devs, os); err == nil {
				t.Fatalf("case %d: %d sessions fit too, but %d was said to be the most", i, os.Sessions, e.MaxSessions)
			}
		}
	}
	if e.MaxContext > 0 {
		oc := o
		oc.Context, oc.Standby = e.MaxContext, 0
		if _, err := Plan(m, devs, oc); err != nil {
			t.Fatalf("case %d: context %d was said to fit: %v", i, e.MaxContext, err)
		}
		if oc.Context++; oc.Context < o.Context {
			if _, err := Plan(m, devs, oc); err == nil {
				t.Fatalf("case %d: context %d fits too, but %d was said to be the longest", i, oc.Context, e.MaxContext)
			}
		}
	}
}

// largest is the device with the largest budget, the last among equals.
func largest(devs []*tabshardv1.Device) *tabshardv1.Device {
	big := devs[0]
	for _, d := range devs {
		if d.Capabilities.MemoryBudgetBytes >= big.Capabilities.MemoryBudgetBytes {
			big = d
		}
	}
	return big
}
