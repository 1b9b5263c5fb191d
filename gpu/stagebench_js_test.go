//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tabshard/tabshard/kernels/wgsl"
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
// layer unfused, Options.Unfused; TABSHARD_STAGE_ROPE_APART=1 records RoPE
// as a dispatch of its own, Options.RopeApart; TABSHARD_PREFILL_ATTN=onepass
// runs the prompt's attention in one pass, Options.OnePassPrefill, and
// split1 split one head a workgroup, Options.PrefillHeadsPerWorkgroup;
// TABSHARD_KUNIT the Q4_K and Q5_K matvec unit, wgsl.KUnit;
// TABSHARD_NOSPLIT=1 weights in their GGUF layout). It
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
	opts.RopeApart = os.Getenv("TABSHARD_STAGE_ROPE_APART") != ""
	if err := prefillAttention(&opts); err != nil {
		b.Fatal(err)
	}
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

// prefillAttention reads TABSHARD_PREFILL_ATTN into o: "onepass" for the
// one-pass attention prefill ran before split attention served it,
// "split1" for split attention one query head a workgroup, "split" or
// nothing for split attention as a stage records it.
func prefillAttention(o *Options) error {
	switch v := os.Getenv("TABSHARD_PREFILL_ATTN"); v {
	case "", "split":
	case "split1":
		o.PrefillHeadsPerWorkgroup = 1
	case "onepass":
		o.OnePassPrefill = true
	default:
		return fmt.Errorf("TABSHARD_PREFILL_ATTN %q: want split, split1 or onepass", v)
	}
	return nil
}

// BenchmarkPrefillAttention times the attention of a prompt of
// TABSHARD_PREFILL_TOKENS positions (default 512 and 2048) in pieces of
// 256 with Llama-3-70B's heads (64 query heads of 128 values, 8 KV
// heads), one layer: GPU time of all pieces (timestamps), one-pass
// attention against split attention with one query head a workgroup and
// with the 8 of a KV head (what a stage records, Stage.prefillAttention,
// with its default 64 MiB of partials).
func BenchmarkPrefillAttention(b *testing.B) {
	heads, kvHeads, hd, piece := 64, 8, 128, 256
	lengths := []int{512, 2048}
	if smallBench() {
		heads, kvHeads, hd, piece, lengths = 8, 2, 64, 64, []int{256}
	}
	if v := os.Getenv("TABSHARD_PREFILL_TOKENS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("TABSHARD_PREFILL_TOKENS %q: want a positive number", v)
		}
		lengths = []int{n}
	}
	for _, n := range lengths {
		sh := RopeShape{Heads: heads, KVHeads: kvHeads, HeadDim: hd, Rot: hd / 2, Slots: n, Scale: float32(math.Sqrt(float64(hd)))}
		group := dev.AttentionGroup(heads, kvHeads, hd)
		rows := int(min(int64(defaultPrefillPartBytes)/(4*int64(heads*wgsl.SplitPartValues(hd, n))), int64(piece)))
		for _, kind := range []string{"onepass", "split", fmt.Sprintf("split-%dheads", group)} {
			b.Run(fmt.Sprintf("%d/%s", n, kind), func(b *testing.B) {
				benchPrefillAttention(b, sh, n, piece, rows, group, kind)
			})
		}
	}
}

func benchPrefillAttention(b *testing.B, sh RopeShape, n, piece, rows, group int, kind string) {
	ctx := context.Background()
	qd, kvd := sh.Heads*sh.HeadDim, sh.KVHeads*sh.HeadDim
	r := rand.New(rand.NewPCG(3, uint64(n)))
	buf := func(v []float32, size int) *Buffer {
		bb, err := dev.NewStorage(4 * int64(max(len(v), size)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(bb.Destroy)
		if v != nil {
			dev.WriteF32(bb, 0, v)
		}
		return bb
	}
	q := buf(randVec(r, piece*qd, 1), 0)
	kc, vc := buf(randVec(r, n*kvd, 1), 0), buf(randVec(r, n*kvd, 1), 0)
	out := buf(nil, piece*qd)
	part := buf(nil, rows*sh.Heads*wgsl.SplitPartValues(sh.HeadDim, n))
	step := newStepB(b)
	o := dev.NewOps(step)
	defer o.Destroy()
	p := dev.NewProgram(step)
	var err error
	switch kind {
	case "onepass":
		err = o.Attention(ctx, p, sh, q, kc, vc, out)
	case "split":
		err = o.AttentionPrefill(ctx, p, sh, q, kc, vc, part, out, rows, piece, 1)
	default:
		err = o.AttentionPrefill(ctx, p, sh, q, kc, vc, part, out, rows, piece, group)
	}
	if err != nil {
		b.Fatal(err)
	}
	o.Flush()
	t, err := dev.NewTimer()
	if err != nil {
		b.Fatal(err)
	}
	defer t.Destroy()
	var fastest time.Duration
	for b.Loop() {
		var sum time.Duration
		for pos := 0; pos < n; pos += piece {
			host, gpu, err := t.Run(ctx, p, min(piece, n-pos), pos)
			if err != nil {
				b.Fatal(err)
			}
			sum += best(host, gpu)
		}
		if fastest == 0 || sum < fastest {
			fastest = sum
		}
	}
	b.ReportMetric(float64(fastest.Microseconds())/1e3, "ms/layer")
	b.ReportMetric(float64(p.Dispatches(piece, 0)), "dispatches")
	b.ReportMetric(float64(rows), "rows/pass")
	b.ReportMetric(0, "ns/op")
}
