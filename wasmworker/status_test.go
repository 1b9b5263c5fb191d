package wasmworker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

func TestTrackerRate(t *testing.T) {
	now := time.Unix(100, 0)
	tr := newTracker("t", nil)
	tr.now = func() time.Time { return now }
	tr.step(5, time.Millisecond) // prefill: not a decode step
	for range 11 {
		tr.step(1, 2*time.Millisecond)
		now = now.Add(100 * time.Millisecond)
	}
	s := tr.Get()
	if s.Positions != 16 || s.DecodeSteps != 11 || s.ForwardMs != 2 {
		t.Errorf("%+v", s)
	}
	if r := s.TokensPerSecond; r < 9.9 || r > 10.1 {
		t.Errorf("rate %v, want 10/s", r)
	}
	now = now.Add(time.Minute)
	tr.mu.Lock()
	r := tr.rate(now)
	tr.mu.Unlock()
	if r != 0 {
		t.Errorf("rate after a minute idle: %v", r)
	}
}

func TestTrackerCoalesces(t *testing.T) {
	var mu sync.Mutex
	var got []Status
	tr := newTracker("t", func(s Status) { mu.Lock(); got = append(got, s); mu.Unlock() })
	for i := range 50 {
		tr.update(func(s *Status) { s.Epoch = uint64(i) })
	}
	time.Sleep(3 * minEmitInterval)
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 3 || got[len(got)-1].Epoch != 49 {
		t.Errorf("%d redraws, last epoch %d; want at most 3 and the last change", len(got), got[len(got)-1].Epoch)
	}
}

func TestStageBytes(t *testing.T) {
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	whole := StageBytes(m, worker.Whole(m.Config.Layers))
	var sum int64
	for _, r := range []worker.Range{{Begin: 0, End: 2, First: true}, {Begin: 2, End: 4}, {Begin: 4, End: 5, Last: true}} {
		sum += StageBytes(m, r)
	}
	var file int64
	for _, ti := range m.File.Tensors {
		file += ti.Size
	}
	// stories260K stores output.weight: the stages together read every
	// tensor once.
	if whole != file || sum != file {
		t.Errorf("whole model %d, stages %d, file tensors %d", whole, sum, file)
	}
	if got := describeRange(worker.Range{Begin: 4, End: 4, Last: true}); got != "no blocks + output head" {
		t.Error(got)
	}
}

// TestMeteredComputeKeepsBatches: the page's metering wrapper leaves the
// stage a Batcher to the runner (agent.As) and counts each session's step
// of a batch.
func TestMeteredComputeKeepsBatches(t *testing.T) {
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := agent.CPU(context.Background(), m, worker.Range{Begin: 0, End: 5, First: true, Last: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker("t", nil)
	var c agent.Compute = meteredCompute{Compute: cpu, t: tr}
	b, ok := agent.As[agent.Batcher](c)
	if !ok {
		t.Fatal("a metered CPU stage is no Batcher")
	}
	if _, ok := agent.As[agent.Greedy](c); ok {
		t.Fatal("a metered CPU stage claims Greedy")
	}
	var steps []agent.Step
	for range 3 {
		kv, err := cpu.NewKV(worker.Options{Positions: 8})
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, agent.Step{KV: kv, Pos: 0, N: 1})
	}
	x := make([]float32, 3*m.Config.Dim)
	if err := cpu.Embed(x, []int{1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.ForwardBatch(steps, x); err != nil {
		t.Fatal(err)
	}
	if s := tr.Get(); s.DecodeSteps != 3 || s.Positions != 3 {
		t.Fatalf("metered %d decode steps over %d positions, want 3 and 3", s.DecodeSteps, s.Positions)
	}
}
