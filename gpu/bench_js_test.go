//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
)

// Benchmarks of the kernels on whatever adapter runs them. Each reports
// GB/s of weights read and, for matvecs, the fraction of the plain read
// kernel's bandwidth measured in the same run. Shapes are Llama-3-70B's
// (rows × cols: 8192×8192 attention, 8192×28672 ffn_down, 28672×8192
// ffn_gate/up, 128256×8192 output head); -short or TABSHARD_BENCH_SMALL=1
// selects small ones (SwiftShader). TABSHARD_MATVEC=WG,TPR,RT[,PF]
// overrides the matvec work split (PF 1: prefetch), TABSHARD_XMODE how
// the matvecs read x, TABSHARD_KUNIT the values per unit of the int8
// Q4_K and Q5_K matvecs (wgsl.KUnit: 64, 128 or 256), TABSHARD_NOSPLIT=1
// keeps weights in their GGUF layout (Device.NoSplit: Q6_K's int8 matvec
// as before its split layout; Q4_0 and Q8_0 then read x directly).

func smallBench() bool { return testing.Short() || os.Getenv("TABSHARD_BENCH_SMALL") != "" }

type benchShape struct{ rows, cols int }

func matvecShapes() []benchShape {
	if smallBench() {
		return []benchShape{{256, 512}, {512, 1024}, {1024, 512}}
	}
	return []benchShape{{8192, 8192}, {8192, 28672}, {28672, 8192}, {128256, 8192}}
}

// readBandwidth is measured once per run.
var readBandwidth float64

func baseline(b *testing.B) float64 {
	if readBandwidth == 0 {
		size := int64(1 << 30)
		if smallBench() {
			size = 32 << 20
		}
		bw, err := dev.MeasureRead(context.Background(), size, 20, 5)
		if err != nil {
			b.Fatal(err)
		}
		readBandwidth = bw
		fmt.Fprintf(os.Stderr, "plain read kernel (vec4<f32>, grid-stride) over %d MiB: %.1f GB/s\n", size>>20, bw/1e9)
	}
	return readBandwidth
}

func shapeOverride(b *testing.B) *wgsl.MatVecShape {
	v := os.Getenv("TABSHARD_MATVEC")
	if v == "" {
		return nil
	}
	f := strings.Split(v, ",")
	var n [4]int
	for i := range n {
		if i < len(f) {
			n[i], _ = strconv.Atoi(f[i])
		}
	}
	s := wgsl.MatVecShape{WG: n[0], TPR: n[1], RT: max(1, n[2]), Prefetch: n[3] != 0}
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	return &s
}

// xModeOverride is TABSHARD_XMODE (auto, direct, planar, int8,
// int8coarse): how the matvecs read x.
func xModeOverride(b *testing.B) wgsl.XMode {
	v := os.Getenv("TABSHARD_XMODE")
	if v == "" {
		return wgsl.XAuto
	}
	m, err := wgsl.ParseXMode(v)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// kUnitOverride sets wgsl.KUnit from TABSHARD_KUNIT, if given, and
// returns what restores it.
func kUnitOverride(b *testing.B) func() {
	v := os.Getenv("TABSHARD_KUNIT")
	if v == "" {
		return func() {}
	}
	n, err := strconv.Atoi(v)
	if err != nil || (n != 64 && n != 128 && n != 256) {
		b.Fatalf("TABSHARD_KUNIT=%q: want 64, 128 or 256", v)
	}
	old := wgsl.KUnit
	wgsl.KUnit = n
	return func() { wgsl.KUnit = old }
}

// noSplitOverride sets dev.NoSplit from TABSHARD_NOSPLIT, if given, and
// returns what restores it.
func noSplitOverride() func() {
	if os.Getenv("TABSHARD_NOSPLIT") == "" {
		return func() {}
	}
	dev.NoSplit = true
	return func() { dev.NoSplit = false }
}

var benchTypes = []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.Q8_0, kernels.Q6_K, kernels.Q3_K, kernels.Q2_K,
	kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS, kernels.F16, kernels.F32}

func BenchmarkMatVec(b *testing.B) {
	read := baseline(b)
	defer kUnitOverride(b)()
	defer noSplitOverride()()
	for _, typ := range benchTypes {
		for _, s := range matvecShapes() {
			b.Run(fmt.Sprintf("%s/%dx%d", typ, s.rows, s.cols), func(b *testing.B) {
				size, _ := weightBytes(typ, s.rows, s.cols)
				if size > dev.Limits.MaxBufferSize*8 {
					b.Skip("too large for this device")
				}
				// Cycle through enough copies that ~256 MiB is read between
				// two uses of one matrix: more than any GPU cache.
				copies := int(min(8, max(1, (256<<20)/size)))
				reps := int(max(8, min(2000, (8<<30)/size)))
				if smallBench() {
					copies, reps = 1, 8
				}
				var bw float64
				for b.Loop() {
					v, err := dev.MeasureMatVec(context.Background(), MatVecBench{Type: typ, Rows: s.rows, Cols: s.cols, Reps: reps, Copies: copies, Shape: shapeOverride(b), X: xModeOverride(b)}, 3)
					if err != nil {
						b.Fatal(err)
					}
					bw = max(bw, v)
				}
				b.ReportMetric(bw/1e9, "GB/s")
				b.ReportMetric(bw/read, "of-read")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkMatVecBatch measures the batched matvec: B vectors (1, 8, 16,
// 32) through one matrix, reporting GB/s of weights read (each weight
// unit is read once per CB vectors), the fraction of the read kernel, and
// the time per matvec and per vector. TABSHARD_NOBATCH=1 runs one matvec
// per vector instead (the comparison); TABSHARD_BATCH_KERNEL=old runs the
// earlier batched kernel (wgsl.BatchRows) instead of the tiled one;
// TABSHARD_BATCH=RT,CB[,WG[,nostage][,pf]] overrides the batched shape
// (rows an invocation, vectors a workgroup, invocations a workgroup or 0
// for the default; the tiled kernel's x loaded by each invocation instead
// of staged, or the next chunk to stage loaded ahead).
func BenchmarkMatVecBatch(b *testing.B) {
	read := baseline(b)
	shapes := []benchShape{{8192, 8192}, {28672, 8192}, {8192, 28672}}
	if smallBench() {
		shapes = []benchShape{{256, 512}, {512, 1024}}
	}
	kernel, err := wgsl.ParseBatchKernel(os.Getenv("TABSHARD_BATCH_KERNEL"))
	if err != nil {
		b.Fatalf("TABSHARD_BATCH_KERNEL: %v", err)
	}
	bs, err := batchShapeOverride(os.Getenv("TABSHARD_BATCH"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("batched kernel %v, shape override %+v", kernel, bs)
	defer kUnitOverride(b)()
	defer noSplitOverride()()
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q6_K, kernels.Q3_K, kernels.Q2_K, kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS} {
		for _, s := range shapes {
			for _, n := range []int{1, 8, 16, 32} {
				b.Run(fmt.Sprintf("%s/%dx%d/B%d", typ, s.rows, s.cols, n), func(b *testing.B) {
					size, _ := weightBytes(typ, s.rows, s.cols)
					copies := int(min(8, max(1, (256<<20)/size)))
					reps := int(max(8, min(500, (2<<30)/size)))
					if smallBench() {
						copies, reps = 1, 4
					}
					var bw float64
					for b.Loop() {
						v, err := dev.MeasureMatVec(context.Background(), MatVecBench{Type: typ, Rows: s.rows, Cols: s.cols, Reps: reps, Copies: copies,
							N: n, NoBatch: os.Getenv("TABSHARD_NOBATCH") != "", BatchKernel: kernel, BatchShape: bs}, 3)
						if err != nil {
							b.Fatal(err)
						}
						bw = max(bw, v)
					}
					us := float64(size) / bw * 1e6
					b.ReportMetric(bw/1e9, "GB/s")
					b.ReportMetric(bw/read, "of-read")
					b.ReportMetric(us, "us/matvec")
					b.ReportMetric(us/float64(n), "us/vector")
					b.ReportMetric(0, "ns/op")
				})
			}
		}
	}
}

// batchShapeOverride parses TABSHARD_BATCH (RT,CB[,WG[,flag…]], flags
// nostage and pf; WG 0 keeps the default; "" is no override).
func batchShapeOverride(v string) (*wgsl.BatchShape, error) {
	if v == "" {
		return nil, nil
	}
	f := strings.Split(v, ",")
	bad := fmt.Errorf("TABSHARD_BATCH=%q: want RT,CB[,WG[,nostage][,pf]]", v)
	if len(f) < 2 {
		return nil, bad
	}
	var n [3]int
	for i := range min(len(f), 3) {
		var err error
		if n[i], err = strconv.Atoi(f[i]); err != nil {
			return nil, bad
		}
	}
	s := &wgsl.BatchShape{MatVecShape: wgsl.MatVecShape{WG: n[2], RT: n[0]}, CB: n[1]}
	for _, flag := range f[min(len(f), 3):] {
		switch flag {
		case "nostage":
			s.NoStage = true
		case "pf":
			s.Prefetch = true
		default:
			return nil, bad
		}
	}
	return s, nil
}

// BenchmarkPrefill times a 512-token prompt through the seven matrices
// of one Llama-3-70B layer (the batched int8 matvec where the type has
// one, else the tiled matmul; TABSHARD_NOBATCH=1: the tiled matmul for
// all; TABSHARD_BATCH_KERNEL=old: the earlier batched kernel) and
// reports TFLOP/s and the layer's time.
func BenchmarkPrefill(b *testing.B) {
	kernel, err := wgsl.ParseBatchKernel(os.Getenv("TABSHARD_BATCH_KERNEL"))
	if err != nil {
		b.Fatalf("TABSHARD_BATCH_KERNEL: %v", err)
	}
	dim, kv, ffn, n := 8192, 1024, 28672, 512
	if smallBench() {
		dim, kv, ffn, n = 256, 64, 512, 64
	}
	mats := []benchShape{{dim, dim}, {kv, dim}, {kv, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}}
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.Q8_0, kernels.F16} {
		b.Run(typ.String(), func(b *testing.B) {
			ctx := context.Background()
			step := newStepB(b)
			x, err := dev.NewStorage(4 * int64(n*ffn))
			if err != nil {
				b.Fatal(err)
			}
			defer x.Destroy()
			y, err := dev.NewStorage(4 * int64(n*ffn))
			if err != nil {
				b.Fatal(err)
			}
			defer y.Destroy()
			o := dev.NewOps(step)
			defer o.Destroy()
			o.Batch, o.NoBatchKernel, o.BatchKernel = n, os.Getenv("TABSHARD_NOBATCH") != "", kernel
			p := dev.NewProgram(step)
			var flops float64
			for _, m := range mats {
				w, err := dev.NewWeights(typ, m.rows, m.cols, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Destroy()
				if err := dev.FillWeights(ctx, w, uint32(m.rows)); err != nil {
					b.Fatal(err)
				}
				if err := o.Linear(ctx, p, w, Vec{Buf: x, Stride: m.cols}, Vec{Buf: y, Stride: m.rows}, false, true); err != nil {
					b.Fatal(err)
				}
				flops += 2 * float64(m.rows) * float64(m.cols) * float64(n)
			}
			o.Flush()
			t, err := dev.NewTimer()
			if err != nil {
				b.Fatal(err)
			}
			defer t.Destroy()
			var fastest time.Duration
			for b.Loop() {
				host, gpu, err := t.Run(ctx, p, n, 0)
				if err != nil {
					b.Fatal(err)
				}
				if d := best(host, gpu); fastest == 0 || d < fastest {
					fastest = d
				}
			}
			b.ReportMetric(flops/fastest.Seconds()/1e12, "TFLOP/s")
			b.ReportMetric(float64(fastest.Microseconds())/1e3, "ms/layer")
			b.ReportMetric(float64(n)/fastest.Seconds(), "tok/s/layer")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func newStepB(b *testing.B) *Buffer {
	s, err := dev.NewUniform(16)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Destroy)
	return s
}

// TestDetect checks the reported capabilities (without the timed matvec
// on SwiftShader unless benchmarks are asked for).
func TestDetect(t *testing.T) {
	c, err := dev.Capabilities(context.Background(), !testing.Short())
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.GetMaxStorageBufferBindingSize() == 0 || c.Adapter == nil || len(c.Features) == 0 {
		t.Fatalf("capabilities incomplete: %v", c)
	}
	t.Logf("capabilities: %v (matvec %.2f GB/s)", c, c.MatvecBandwidthBytesPerSecond/1e9)
}

// BenchmarkDecodeLayer times the seven matvecs of one Llama-3-70B layer
// for one token (q, k and v sharing their prepared input, gate and up
// theirs), the layer recorded layers times in one submission as a token's
// pass would be, and reports the time per layer and the tokens/s that 80
// such layers and the 128256×8192 head would allow. It leaves out
// norms, RoPE, attention and hops between workers (a lower bound on a
// token's time; BenchmarkMatVec's fractions say how far each matrix is
// from the read kernel).
func BenchmarkDecodeLayer(b *testing.B) {
	dim, kv, ffn, vocab, layers := 8192, 1024, 28672, 128256, 80
	if smallBench() {
		dim, kv, ffn, vocab, layers = 256, 64, 512, 1024, 4
	}
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.Q8_0, kernels.Q3_K, kernels.Q2_K} {
		b.Run(typ.String(), func(b *testing.B) {
			ctx := context.Background()
			step := newStepB(b)
			buf := func(n int) *Buffer {
				x, err := dev.NewStorage(4 * int64(n))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(x.Destroy)
				return x
			}
			xb, q, k, v, att, hb, hb2, x := buf(dim), buf(dim), buf(kv), buf(kv), buf(dim), buf(ffn), buf(ffn), buf(dim)
			d := dev.NewOps(step)
			defer d.Destroy()
			mat := func(rows, cols int) *Weights {
				w, err := dev.NewWeights(typ, rows, cols, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(w.Destroy)
				if err := dev.FillWeights(ctx, w, uint32(rows+cols)); err != nil {
					b.Fatal(err)
				}
				return w
			}
			wq, wk, wv, wo, wg, wu, wd := mat(dim, dim), mat(kv, dim), mat(kv, dim), mat(dim, dim), mat(ffn, dim), mat(ffn, dim), mat(dim, ffn)
			var layerBytes int64
			for _, w := range []*Weights{wq, wk, wv, wo, wg, wu, wd} {
				layerBytes += w.Bytes()
			}
			vec := func(b *Buffer, n int) Vec { return Vec{Buf: b, Stride: n} }
			const reps = 10
			p := dev.NewProgram(step)
			for range reps {
				for _, m := range []struct {
					w    *Weights
					x, y Vec
					acc  bool
				}{
					{wq, vec(xb, dim), vec(q, dim), false}, {wk, vec(xb, dim), vec(k, kv), false}, {wv, vec(xb, dim), vec(v, kv), false},
					{wo, vec(att, dim), vec(x, dim), true},
					{wg, vec(xb, dim), vec(hb, ffn), false}, {wu, vec(xb, dim), vec(hb2, ffn), false},
					{wd, vec(hb, ffn), vec(x, dim), true},
				} {
					if err := d.Linear(ctx, p, m.w, m.x, m.y, m.acc, false); err != nil {
						b.Fatal(err)
					}
				}
				// The norm between attention and the MLP rewrites xb.
				if err := d.Add(ctx, p, xb, x, dim, dim); err != nil {
					b.Fatal(err)
				}
			}
			d.Flush()
			t, err := dev.NewTimer()
			if err != nil {
				b.Fatal(err)
			}
			defer t.Destroy()
			var fastest time.Duration
			for b.Loop() {
				for range 3 {
					host, gpu, err := t.Run(ctx, p, 1, 0)
					if err != nil {
						b.Fatal(err)
					}
					if d := best(host, gpu); fastest == 0 || d < fastest {
						fastest = d
					}
				}
			}
			layer := fastest.Seconds() / reps
			head, _ := weightBytes(typ, vocab, dim)
			bw := float64(layerBytes) / layer
			token := float64(layers)*layer + float64(head)/bw
			b.ReportMetric(layer*1e6, "us/layer")
			b.ReportMetric(bw/1e9, "GB/s")
			b.ReportMetric(bw/baseline(b), "of-read")
			b.ReportMetric(1/token, "tok/s-matvec-only")
			b.ReportMetric(baseline(b)/(float64(layers)*float64(layerBytes)+float64(head)), "tok/s-bound")
			b.ReportMetric(0, "ns/op")
		})
	}
}
