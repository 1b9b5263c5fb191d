//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
)

// Tolerances of the element-wise and normalisation kernels, relative to
// the magnitude of each value (they differ from the Go reference only in
// float32 rounding order and the GPU's exp/sqrt): RMSNorm, RoPE, SwiGLU,
// add and bias 1e-5; attention 1e-4 (absolute, values and weights of order
// 1); embedding exact (the same dequantization, bit for bit).
const (
	elemTol = 1e-5
	attnTol = 1e-4
)

// program records one op with rec and runs it for n positions at pos.
func program(t *testing.T, n, pos int, rec func(ctx context.Context, o *Ops, p *Program) error) {
	t.Helper()
	ctx := context.Background()
	step := newStep(t)
	o := dev.NewOps(step)
	defer o.Destroy()
	p := dev.NewProgram(step)
	if err := rec(ctx, o, p); err != nil {
		t.Fatal(err)
	}
	o.Flush()
	p.Run(n, pos)
	if err := dev.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func magnitudes(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = max(abs32(x), 1e-3)
	}
	return out
}

// headMagnitudes bounds each value of heads of hd values by the largest
// magnitude in its head: a rotated value is a difference of products of
// its pair, which may cancel, so its error follows the pair's size, not
// its own (on GPUs that fuse multiply-adds).
func headMagnitudes(v []float32, hd int) []float32 {
	out := magnitudes(v)
	for h := 0; h+hd <= len(v); h += hd {
		m := float32(0)
		for _, x := range out[h : h+hd] {
			m = max(m, x)
		}
		for i := h; i < h+hd; i++ {
			out[i] = m
		}
	}
	return out
}

func TestRMSNorm(t *testing.T) {
	for _, dim := range []int{8, 64, 172, 1000} {
		t.Run(fmt.Sprint(dim), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(dim), 1))
			n := 3
			xs, g := randVec(r, n*dim, 2), randVec(r, dim, 1)
			want := make([]float32, n*dim)
			for i := range n {
				kernels.RMSNorm(want[i*dim:(i+1)*dim], xs[i*dim:(i+1)*dim], g, 1e-5)
			}
			x, gb, y := storage(t, xs, 0), storage(t, g, 0), storage(t, nil, n*dim)
			program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error {
				return o.RMSNorm(ctx, p, Vec{Buf: x, Stride: dim}, gb, Vec{Buf: y, Stride: dim}, dim, 1e-5)
			})
			closeTo(t, "rmsnorm", readF32(t, y, n*dim), want, magnitudes(want), elemTol)
		})
	}
}

func TestSwiGLUAddBias(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n, width := 5, 300
	gate, up := randVec(r, n*width, 6), randVec(r, n*width, 2)
	bias := randVec(r, width, 1)
	t.Run("swiglu", func(t *testing.T) {
		want := append([]float32(nil), gate...)
		kernels.SwiGLU(want, up)
		var h []float32 // gate and up side by side per position, as one matvec writes them
		for i := range n {
			h = append(append(h, gate[i*width:(i+1)*width]...), up[i*width:(i+1)*width]...)
		}
		hb := storage(t, h, 0)
		program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error { return o.SwiGLU(ctx, p, hb, width, 2*width) })
		got, mags := readF32(t, hb, 2*n*width), magnitudes(want)
		for i := range n {
			closeTo(t, "swiglu", got[2*i*width:(2*i+1)*width], want[i*width:(i+1)*width], mags[i*width:(i+1)*width], elemTol)
			closeTo(t, "up, unchanged", got[(2*i+1)*width:(2*i+2)*width], up[i*width:(i+1)*width], nil, 0)
		}
	})
	t.Run("add", func(t *testing.T) {
		want := append([]float32(nil), gate...)
		kernels.Add(want, up)
		y, x := storage(t, gate, 0), storage(t, up, 0)
		program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error { return o.Add(ctx, p, y, x, width, width) })
		closeTo(t, "add", readF32(t, y, n*width), want, magnitudes(want), 0)
	})
	t.Run("bias", func(t *testing.T) {
		want := append([]float32(nil), gate...)
		for i := range n {
			kernels.Add(want[i*width:(i+1)*width], bias)
		}
		y, b := storage(t, gate, 0), storage(t, bias, 0)
		program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error { return o.Bias(ctx, p, y, b, width, width) })
		closeTo(t, "bias", readF32(t, y, n*width), want, magnitudes(want), 0)
	})
}

func TestEmbed(t *testing.T) {
	for _, typ := range wgsl.Types() {
		widths := []int{colsFor(typ, 512)}
		if typ == kernels.Q6_K {
			widths = append(widths, 2048) // split rows
		}
		for _, cols := range widths {
			t.Run(fmt.Sprintf("%s/%d", typ, cols), func(t *testing.T) {
				testEmbed(t, typ, cols)
			})
		}
	}
}

func testEmbed(t *testing.T, typ kernels.DType, cols int) {
	r := rand.New(rand.NewPCG(uint64(typ), 5))
	rows := 50
	data := randWeights(t, r, typ, rows, cols)
	rb, _ := typ.RowBytes(int64(cols))
	w, err := dev.UploadWeights(typ, rows, cols, data, rb*7+4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Destroy()
	ids := []uint32{0, 49, 7, 13, 14, 27}
	want := make([]float32, len(ids)*cols)
	c, _ := typ.Codec()
	for i, id := range ids {
		c.Dequantize(want[i*cols:(i+1)*cols], data[int64(id)*rb:int64(id+1)*rb])
	}
	tok, err := dev.NewStorage(4 * int64(len(ids)))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Destroy()
	dev.WriteU32(tok, 0, ids)
	y := storage(t, nil, len(want))
	program(t, len(ids), 0, func(ctx context.Context, o *Ops, p *Program) error { return o.Embed(ctx, p, w, tok, y) })
	got := readF32(t, y, len(want))
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && got[i] != want[i] {
			t.Fatalf("value %d (row %d, column %d): GPU %g, reference %g", i, ids[i/cols], i%cols, got[i], want[i])
		}
	}
}

// TestRopeAttention runs RoPE + KV store + attention for a batch at a
// position, against worker's RoPE and KVCache.Attend, for normal and NeoX
// pairing, partial rotation, grouped-query heads and a sliding window.
func TestRopeAttention(t *testing.T) {
	cases := []struct {
		heads, kvHeads, hd, rot int
		neox                    bool
		window, pos, n          int
	}{
		{8, 4, 8, 4, false, 0, 0, 5},
		{4, 2, 64, 32, true, 0, 70, 3},
		{4, 4, 96, 16, false, 0, 3, 1},
		{6, 2, 32, 16, false, 7, 20, 4},
		{2, 1, 160, 80, true, 0, 130, 2},
		{8, 2, 128, 64, false, 0, 300, 1}, // decoding far into the context: many splits
		{4, 1, 64, 32, false, 100, 250, 3},
		{2, 2, 8, 4, false, 0, 64, 1},
		{4, 2, 6, 3, false, 0, 70, 2},     // heads of 6 values: keys read one value at a time
		{8, 2, 32, 16, false, 0, 0, 40},   // a prompt: prefill's passes of a few positions, 4 heads a workgroup
		{6, 2, 16, 8, true, 24, 30, 37},   // a prompt past a sliding window, 3 heads a workgroup
		{8, 1, 64, 32, false, 0, 100, 21}, // a later piece of a prompt, 8 heads a workgroup (one KV head)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("h%d-kv%d-hd%d-rot%d-neox%v-w%d-pos%d-n%d", c.heads, c.kvHeads, c.hd, c.rot, c.neox, c.window, c.pos, c.n), func(t *testing.T) {
			testRopeAttention(t, c.heads, c.kvHeads, c.hd, c.rot, c.neox, c.window, c.pos, c.n)
		})
	}
}

func testRopeAttention(t *testing.T, heads, kvHeads, hd, rot int, neox bool, window, pos, n int) {
	r := rand.New(rand.NewPCG(uint64(heads*hd), uint64(pos)))
	qd, kvd := heads*hd, kvHeads*hd
	last := pos + n
	slots := last + 130 // a cache with room past the batch: split attention sizes itself by the position
	if window > 0 {
		slots = window + 64 - 1
	}
	freqs := kernels.RopeFreqs(2*rot, 10000, nil)
	rope := kernels.Rope{Freqs: freqs, NeoX: neox}
	// Earlier positions' keys and values, already in the cache.
	keys, vals := randVec(r, last*kvd, 1), randVec(r, last*kvd, 1)
	q := randVec(r, n*qd, 1)
	kc0, vc0 := make([]float32, slots*kvd), make([]float32, slots*kvd)
	for p := 0; p < pos; p++ {
		copy(kc0[(p%slots)*kvd:], keys[p*kvd:(p+1)*kvd])
		copy(vc0[(p%slots)*kvd:], vals[p*kvd:(p+1)*kvd])
	}
	// Reference: rotate, store, attend.
	wantQ := append([]float32(nil), q...)
	wantK := append([]float32(nil), keys...)
	scale := float32(math.Sqrt(float64(hd)))
	want := make([]float32, n*qd)
	scores, tmp := make([]float32, last), make([]float32, hd)
	for i := range n {
		p := pos + i
		rope.Apply(wantQ[i*qd:(i+1)*qd], hd, p)
		rope.Apply(wantK[p*kvd:(p+1)*kvd], hd, p)
	}
	ref := refCache(wantK, vals, kvHeads, hd, last)
	for i := range n {
		p := pos + i
		first := 0
		if window > 0 && p-window+1 > 0 {
			first = p - window + 1
		}
		for h := range heads {
			ref.Attend(0, h/(heads/kvHeads), first, p, wantQ[i*qd+h*hd:i*qd+(h+1)*hd], scale, scores, want[i*qd+h*hd:i*qd+(h+1)*hd], tmp)
		}
	}
	qkv := make([]float32, 0, n*(qd+2*kvd)) // q, k and v side by side, as one matvec writes them
	for i := range n {
		p := pos + i
		qkv = append(append(append(qkv, q[i*qd:(i+1)*qd]...), keys[p*kvd:(p+1)*kvd]...), vals[p*kvd:(p+1)*kvd]...)
	}
	qkvb := storage(t, qkv, 0)
	qb := storage(t, nil, n*qd)
	kc, vc := storage(t, kc0, 0), storage(t, vc0, 0)
	cs := storage(t, RopeTable(freqs, pos, n), 0)
	out := storage(t, nil, n*qd)
	sh := RopeShape{Heads: heads, KVHeads: kvHeads, HeadDim: hd, Rot: rot, NeoX: neox, Slots: slots, Window: window, Scale: scale}
	var split, part *Buffer // split attention too, where heads allow it
	// and prefill's, 3 positions a pass, one head a workgroup and as many
	// as a KV head serves.
	const prefillRows = 3
	var prefill [2]*Buffer
	var prefillPart *Buffer
	group := heads / kvHeads
	if hd%4 == 0 {
		split = storage(t, nil, n*qd)
		part = storage(t, nil, n*heads*wgsl.SplitPartValues(hd, slots))
		prefill = [2]*Buffer{storage(t, nil, n*qd), storage(t, nil, n*qd)}
		prefillPart = storage(t, nil, prefillRows*heads*wgsl.SplitPartValues(hd, slots))
	}
	program(t, n, pos, func(ctx context.Context, o *Ops, p *Program) error {
		if err := o.Rope(ctx, p, sh, qkvb, qb, kc, vc, cs); err != nil {
			return err
		}
		if err := o.Attention(ctx, p, sh, qb, kc, vc, out); err != nil {
			return err
		}
		if split == nil {
			return nil
		}
		if err := o.AttentionSplit(ctx, p, sh, qb, kc, vc, part, split); err != nil {
			return err
		}
		for i, g := range []int{1, group} {
			// room for a pass more than the batch needs: it dispatches nothing
			if err := o.AttentionPrefill(ctx, p, sh, qb, kc, vc, prefillPart, prefill[i], prefillRows, n+prefillRows, g); err != nil {
				return err
			}
		}
		return nil
	})
	closeTo(t, "rotated q", readF32(t, qb, n*qd), wantQ, headMagnitudes(wantQ, hd), elemTol)
	gotK := readF32(t, kc, slots*kvd)
	for i := range n {
		p := pos + i
		s := p % slots
		closeTo(t, fmt.Sprintf("cached key %d", p), gotK[s*kvd:(s+1)*kvd], wantK[p*kvd:(p+1)*kvd], headMagnitudes(wantK[p*kvd:(p+1)*kvd], hd), elemTol)
	}
	closeTo(t, "attention", readF32(t, out, n*qd), want, nil, attnTol)
	if split == nil {
		return
	}
	splitOut := readF32(t, split, n*qd)
	closeTo(t, "split attention", splitOut, want, nil, attnTol)
	// Prefill's split attention is decoding's, bit for bit, whatever its
	// passes and heads a workgroup.
	for i, g := range []int{1, group} {
		for j, v := range readF32(t, prefill[i], n*qd) {
			if math.Float32bits(v) != math.Float32bits(splitOut[j]) {
				t.Fatalf("prefill attention, %d heads a workgroup: value %d (position %d head %d) is %g, split attention's %g",
					g, j, pos+j/qd, j%qd/hd, v, splitOut[j])
			}
		}
	}
	// RoPE folded into split attention's first pass, on caches as they
	// were before the batch: the same output, keys and values stored.
	kc, vc = storage(t, kc0, 0), storage(t, vc0, 0)
	fused := storage(t, nil, n*qd)
	program(t, n, pos, func(ctx context.Context, o *Ops, p *Program) error {
		return o.AttentionSplitRope(ctx, p, sh, qkvb, kc, vc, cs, nil, part, fused, nil, n)
	})
	closeTo(t, "split attention, RoPE folded", readF32(t, fused, n*qd), want, nil, attnTol)
	gotK, gotV := readF32(t, kc, slots*kvd), readF32(t, vc, slots*kvd)
	for p := range slots {
		k, v := gotK[p*kvd:(p+1)*kvd], gotV[p*kvd:(p+1)*kvd]
		wk, wv := kc0[p*kvd:(p+1)*kvd], vc0[p*kvd:(p+1)*kvd] // untouched
		if i := (p - pos%slots + slots) % slots; i < n {     // slot of batch position pos+i
			at := pos + i
			wk, wv = wantK[at*kvd:(at+1)*kvd], vals[at*kvd:(at+1)*kvd]
			closeTo(t, fmt.Sprintf("RoPE folded: cached key %d", at), k, wk, headMagnitudes(wk, hd), elemTol)
		} else if !slices.Equal(k, wk) {
			t.Errorf("RoPE folded: slot %d of the key cache changed", p)
		}
		if !slices.Equal(v, wv) {
			t.Errorf("RoPE folded: slot %d of the value cache holds %v, want %v", p, v[:min(4, len(v))], wv[:min(4, len(wv))])
		}
	}
	// The q/k/v bias folded too: the values less their bias go in.
	bias := randVec(r, qd+2*kvd, 1)
	raw := make([]float32, len(qkv))
	for i := range qkv {
		raw[i] = qkv[i] - bias[i%(qd+2*kvd)]
	}
	kc, vc = storage(t, kc0, 0), storage(t, vc0, 0)
	program(t, n, pos, func(ctx context.Context, o *Ops, p *Program) error {
		return o.AttentionSplitRope(ctx, p, sh, storage(t, raw, 0), kc, vc, cs, storage(t, bias, 0), part, fused, nil, n)
	})
	closeTo(t, "split attention, RoPE and bias folded", readF32(t, fused, n*qd), want, nil, attnTol)
	gotK, gotV = readF32(t, kc, slots*kvd), readF32(t, vc, slots*kvd)
	for i := range n {
		at, s := pos+i, (pos+i)%slots
		wk, wv := wantK[at*kvd:(at+1)*kvd], vals[at*kvd:(at+1)*kvd]
		closeTo(t, fmt.Sprintf("bias folded: cached key %d", at), gotK[s*kvd:(s+1)*kvd], wk, headMagnitudes(wk, hd), elemTol)
		closeTo(t, fmt.Sprintf("bias folded: cached value %d", at), gotV[s*kvd:(s+1)*kvd], wv, magnitudes(wv), elemTol)
	}
}

// refCache is a one-block worker.KVCache holding rows keys and values.
func refCache(keys, vals []float32, kvHeads, hd, rows int) *worker.KVCache {
	cfg := bundledConfig(kvHeads, hd, rows)
	kv, err := worker.NewKVCache(cfg, 1, rows, worker.KVOptions{})
	if err != nil {
		panic(err)
	}
	kvd := kvHeads * hd
	for p := range rows {
		kv.Store(0, p, keys[p*kvd:(p+1)*kvd], vals[p*kvd:(p+1)*kvd])
	}
	return kv
}

func TestArgmaxSample(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	n, vocab := 4, 1000
	logits := randVec(r, n*vocab, 8)
	logits[vocab+17] = 100 // ties: the lowest index wins
	logits[vocab+500] = 100
	x := storage(t, logits, 0)
	picks, err := dev.NewStorage(4 * int64(n))
	if err != nil {
		t.Fatal(err)
	}
	defer picks.Destroy()
	got := make([]uint32, n)
	t.Run("argmax", func(t *testing.T) {
		program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error { return o.Argmax(ctx, p, x, picks, vocab, vocab) })
		if err := dev.ReadU32(context.Background(), picks, 0, got); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if want := kernels.Argmax(logits[i*vocab : (i+1)*vocab]); int(got[i]) != want {
				t.Errorf("row %d: %d, want %d", i, got[i], want)
			}
		}
	})
	t.Run("sample", func(t *testing.T) {
		const temp = 0.9
		coinVals := []float32{0.01, 0.5, 0.77, 0.999}
		coins := storage(t, coinVals, 0)
		soft := append([]float32(nil), logits...)
		soft[vocab+17], soft[vocab+500] = 3, 2 // a spread-out distribution
		dev.WriteF32(x, 0, soft)
		program(t, n, 0, func(ctx context.Context, o *Ops, p *Program) error {
			return o.Sample(ctx, p, x, picks, coins, vocab, vocab, temp)
		})
		if err := dev.ReadU32(context.Background(), picks, 0, got); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			row := append([]float32(nil), soft[i*vocab:(i+1)*vocab]...)
			for j := range row {
				row[j] /= temp
			}
			kernels.Softmax(row)
			// The draw is the first index whose cumulative probability
			// passes the coin; allow a neighbour only when the coin is
			// within 1e-5 of the boundary between them.
			var cdf float32
			want := vocab - 1
			for j, p := range row {
				cdf += p
				if coinVals[i] < cdf {
					want = j
					break
				}
			}
			if int(got[i]) != want {
				var c float32
				for _, p := range row[:min(int(got[i]), want)+1] {
					c += p
				}
				if math.Abs(float64(c-coinVals[i])) > 1e-5 {
					t.Errorf("row %d coin %g: drew %d, want %d", i, coinVals[i], got[i], want)
				}
			}
		}
	})
}

// TestMatVecWorkgroupReduction repeats a few matvecs with the subgroup
// reduction turned off, so that both paths are held to the reference on
// adapters that have subgroups.
func TestMatVecWorkgroupReduction(t *testing.T) {
	dev.NoSubgroups = true
	defer func() { dev.NoSubgroups = false }()
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.F16} {
		c := linearCase{rows: 67, cols: 3 * colsFor(typ, 256), n: 2, accumulate: true}
		t.Run(typ.String(), func(t *testing.T) { testLinear(t, typ, c, false) })
	}
}

// TestMatVecShapes runs Q4_0, Q4_K and Q6_K matvecs under several work
// splits, rows interleaved per invocation and prefetching included.
func TestMatVecShapes(t *testing.T) {
	step := newStep(t)
	for _, sh := range []wgsl.MatVecShape{{WG: 256, TPR: 256, RT: 1}, {WG: 128, TPR: 32, RT: 2}, {WG: 64, TPR: 64, RT: 4}, {WG: 32, TPR: 4, RT: 3},
		{WG: 128, TPR: 32, RT: 3, Prefetch: true}, {WG: 64, TPR: 16, RT: 2, Prefetch: true}} {
		for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q4_K, kernels.Q6_K} {
			t.Run(fmt.Sprintf("%s/%d-%d-%d-pf%v", typ, sh.WG, sh.TPR, sh.RT, sh.Prefetch), func(t *testing.T) {
				_ = step
				testLinearShape(t, typ, linearCase{rows: 37, cols: 2 * colsFor(typ, 256), n: 2}, sh)
			})
		}
	}
}

// bundledConfig is a minimal model configuration for a KV cache.
func bundledConfig(kvHeads, hd, ctx int) *model.Config {
	return &model.Config{Arch: model.ArchLlama, Layers: 1, Dim: kvHeads * hd, FFNDim: 1, Heads: kvHeads, KVHeads: kvHeads,
		HeadDim: hd, RopeDim: hd, Vocab: 1, ContextLength: ctx, NormEps: 1e-5, RopeBase: 10000, RopeStyle: model.RopeNormal}
}
