//go:build js && wasm

package gpu

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

// BenchmarkStageDecode times decoded tokens through one stage of a
// preset's blocks with seeded weights generated in place
// (TABSHARD_STAGE=preset:policy, default llama-3-70b:q4_0;
// TABSHARD_STAGE_LAYERS, default 10: one of eight workers' share; after
// TABSHARD_STAGE_POS positions, default 64; TABSHARD_STAGE_BATCH positions
// a submission, default Options.MaxBatch; TABSHARD_STAGE_CONTEXT cache
// slots, default the positions used; TABSHARD_STAGE_UNFUSED=1 records the
// layer unfused, Options.Unfused; TABSHARD_KUNIT the Q4_K and Q5_K matvec
// unit, wgsl.KUnit; TABSHARD_NOSPLIT=1 weights in their GGUF layout). It
// reports the median of 32 tokens of Forward as a worker calls it (upload
// x, one submission, read x back), the same submission's host time from
// submit to done and its GPU time (timestamps), and the stage's weights
// over the Forward time in GB/s; and the time of the prompt's Forward
// (prefill of TABSHARD_STAGE_POS positions).
func BenchmarkStageDecode(b *testing.B) {
	defer kUnitOverride(b)()
	defer noSplitOverride()()
	spec, layers := "llama-3-70b:q4_0", 10
	if smallBench() {
		spec, layers = "stories15m:q4_0", 6
	}
	if v := os.Getenv("TABSHARD_STAGE"); v != "" {
		spec = v
	}
	if v := os.Getenv("TABSHARD_STAGE_LAYERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("TABSHARD_STAGE_LAYERS %q: want a positive number", v)
		}
		layers = n
	}
	prompt := 64 // positions before the timed tokens
	if v := os.Getenv("TABSHARD_STAGE_POS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("TABSHARD_STAGE_POS %q: want a positive number", v)
		}
		prompt = n
	}
	p, pol, err := preset.Parse(spec)
	if err != nil {
		b.Fatal(err)
	}
	p.Layers = layers
	var file synth.SparseFile // the header; the weights are made on the GPU
	if _, err := synth.WritePresetTo(&file, p, pol, synth.WeightsSeeded, 1); err != nil {
		b.Fatal(err)
	}
	m, err := model.Load(&file, file.Size())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	opts := Options{Device: dev}
	if v := os.Getenv("TABSHARD_STAGE_BATCH"); v != "" {
		if opts.MaxBatch, err = strconv.Atoi(v); err != nil || opts.MaxBatch < 1 {
			b.Fatalf("TABSHARD_STAGE_BATCH %q: want a positive number", v)
		}
	}
	opts.Unfused = os.Getenv("TABSHARD_STAGE_UNFUSED") != ""
	positions := min(prompt+64, m.Config.ContextLength)
	if v := os.Getenv("TABSHARD_STAGE_CONTEXT"); v != "" { // a cache of more slots than the positions used
		n, err := strconv.Atoi(v)
		if err != nil || n < positions || n > m.Config.ContextLength {
			b.Fatalf("TABSHARD_STAGE_CONTEXT %q: want a number from %d to %d", v, positions, m.Config.ContextLength)
		}
		positions = n
	}
	s, err := NewStage(ctx, m, worker.Range{Begin: 0, End: layers}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Logf("%s, %d blocks: %.2f GB of weights generated in %v", spec, layers, float64(s.WeightBytes())/1e9, time.Since(start).Round(time.Millisecond))
	akv, err := s.NewKV(worker.Options{Positions: positions})
	if err != nil {
		b.Fatal(err)
	}
	kv := akv.(*KV)
	defer kv.Release()
	dim := m.Config.Dim
	r := rand.New(rand.NewPCG(1, 2))
	px := randVec(r, prompt*dim, 1)
	if err := s.Forward(kv, append([]float32(nil), px...), 0, prompt); err != nil {
		b.Fatal(err)
	}
	// The prompt again on a cache of its own, its pipelines compiled now.
	akv2, err := s.NewKV(worker.Options{Positions: min(prompt+64, m.Config.ContextLength)})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := s.Forward(akv2, px, 0, prompt); err != nil {
		b.Fatal(err)
	}
	promptTime := time.Since(t0)
	akv2.(*KV).Release()
	prog, err := s.program(ctx, kv, false)
	if err != nil {
		b.Fatal(err)
	}
	timer, err := dev.NewTimer()
	if err != nil {
		b.Fatal(err)
	}
	defer timer.Destroy()
	var fwd, host, gpu []time.Duration
	for b.Loop() {
		for pos := prompt; pos < prompt+32; pos++ {
			x := randVec(r, dim, 1)
			t0 := time.Now()
			if err := s.Forward(kv, x, pos, 1); err != nil {
				b.Fatal(err)
			}
			fwd = append(fwd, time.Since(t0))
			h, g, err := timer.Run(ctx, prog, 1, pos)
			if err != nil {
				b.Fatal(err)
			}
			host, gpu = append(host, h), append(gpu, g)
		}
	}
	med := func(v []time.Duration) float64 {
		slices.Sort(v)
		return float64(v[len(v)/2].Microseconds()) / 1e3
	}
	f := med(fwd)
	b.ReportMetric(f, "forward-ms")
	b.ReportMetric(med(host), "submit-ms")
	b.ReportMetric(med(gpu), "gpu-ms")
	b.ReportMetric(float64(s.WeightBytes())/(f/1e3)/1e9, "GB/s")
	b.ReportMetric(float64(prog.Dispatches(1, 0)), "dispatches")
	b.ReportMetric(float64(promptTime.Microseconds())/1e3, "prompt-ms")
	b.ReportMetric(0, "ns/op")
}
