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
// selects small ones (SwiftShader). TABSHARD_MATVEC=WG,TPR,RT overrides
// the matvec work split.

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
		bw, err := dev.MeasureRead(context.Background(), size, 10, 5)
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
	var n [3]int
	for i := range n {
		if i < len(f) {
			n[i], _ = strconv.Atoi(f[i])
		}
	}
	s := wgsl.MatVecShape{WG: n[0], TPR: n[1], RT: max(1, n[2])}
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	return &s
}

var benchTypes = []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.Q8_0, kernels.Q6_K, kernels.Q3_K, kernels.Q2_K, kernels.F16, kernels.F32}

func BenchmarkMatVec(b *testing.B) {
	read := baseline(b)
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
				reps := int(max(8, min(400, (8<<30)/size)))
				if smallBench() {
					copies, reps = 1, 8
				}
				var bw float64
				for b.Loop() {
					v, err := dev.MeasureMatVec(context.Background(), MatVecBench{Type: typ, Rows: s.rows, Cols: s.cols, Reps: reps, Copies: copies, Shape: shapeOverride(b)}, 3)
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

// BenchmarkPrefill times a 512-token prompt through the seven matrices
// of one Llama-3-70B layer (tiled matmul) and reports TFLOP/s and the
// layer's time.
func BenchmarkPrefill(b *testing.B) {
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
				host, gpu, err := t.Run(ctx, p, n)
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
