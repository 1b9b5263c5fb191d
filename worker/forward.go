package worker

import (
	"fmt"
	"runtime"

	"github.com/tabshard/tabshard/kernels"
)

// scratch holds a forward pass's intermediate values for a batch of n.
type scratch struct {
	xb, q, k, v, att, hb, hb2 []float32
	buf                       []float32 // attention's, grown by scores
}

// scores returns room for pieces attention pieces of span values each,
// allocated once per forward pass and reused by every layer.
func (sc *scratch) scores(span, pieces int) []float32 {
	if len(sc.buf) < span*pieces {
		sc.buf = make([]float32, span*pieces)
	}
	return sc.buf[:span*pieces]
}

func (s *Stage) newScratch(n int) *scratch {
	c := &s.cfg
	return &scratch{
		xb:  make([]float32, n*c.Dim),
		q:   make([]float32, n*c.QDim()),
		k:   make([]float32, n*c.KVDim()),
		v:   make([]float32, n*c.KVDim()),
		att: make([]float32, n*c.QDim()),
		hb:  make([]float32, n*c.FFNDim),
		hb2: make([]float32, n*c.FFNDim),
	}
}

// Forward runs the stage's blocks over the hidden states x of n consecutive
// positions starting at pos (n×Dim values, updated in place), storing their
// keys and values in the KV cache. Earlier positions must have been run.
func (s *Stage) Forward(kv *KVCache, x []float32, pos, n int) error {
	c := &s.cfg
	if kv.Blocks() != len(s.blocks) {
		return fmt.Errorf("%w: KV cache of %d blocks for a stage of %d", ErrShape, kv.Blocks(), len(s.blocks))
	}
	if n <= 0 || pos < 0 || pos+n > kv.Positions() {
		return fmt.Errorf("%w: positions [%d,%d) with room for %d", ErrPosition, pos, pos+n, kv.Positions())
	}
	if len(x) != n*c.Dim {
		return fmt.Errorf("%w: %d values for %d positions of %d", ErrShape, len(x), n, c.Dim)
	}
	if kv.Window() > 0 && n > maxChunk {
		// A windowed cache holds only Window+maxChunk-1 positions.
		for i := 0; i < n; i += maxChunk {
			k := min(maxChunk, n-i)
			if err := s.Forward(kv, x[i*c.Dim:(i+k)*c.Dim], pos+i, k); err != nil {
				return err
			}
		}
		return nil
	}
	sc := s.newScratch(n)
	for li := range s.blocks {
		s.attention(kv, li, x, sc, pos, n)
		s.feedForward(&s.blocks[li], x, sc, n)
	}
	return nil
}

// attention runs block li's attention sublayer and adds it to x.
func (s *Stage) attention(kv *KVCache, li int, x []float32, sc *scratch, pos, n int) {
	c := &s.cfg
	b := &s.blocks[li]
	d, qd, kvd := c.Dim, c.QDim(), c.KVDim()
	for i := 0; i < n; i++ {
		kernels.RMSNorm(sc.xb[i*d:(i+1)*d], x[i*d:(i+1)*d], b.attnNorm, c.NormEps)
	}
	kernels.MatMuls(sc.xb, n, []*kernels.Matrix{b.q, b.k, b.v}, [][]float32{sc.q, sc.k, sc.v})
	for i := 0; i < n; i++ {
		q, k, v := sc.q[i*qd:(i+1)*qd], sc.k[i*kvd:(i+1)*kvd], sc.v[i*kvd:(i+1)*kvd]
		if b.qBias != nil {
			kernels.Add(q, b.qBias)
			kernels.Add(k, b.kBias)
			kernels.Add(v, b.vBias)
		}
		s.rope.Apply(q, c.HeadDim, pos+i)
		s.rope.Apply(k, c.HeadDim, pos+i)
		kv.Store(li, pos+i, k, v)
	}
	s.attendAll(kv, li, sc, pos, n)
	b.o.MatMul(sc.xb, sc.att, n)
	kernels.Add(x, sc.xb)
}

// minParallelAttention is the number of query-key products below which a
// layer's attention runs on the calling goroutine.
const minParallelAttention = 1 << 16

// attendAll computes every head's attention output for the n positions,
// spreading (position, head) pairs over the cores when there is enough work.
func (s *Stage) attendAll(kv *KVCache, li int, sc *scratch, pos, n int) {
	c := &s.cfg
	jobs := n * c.Heads
	span := pos + n + c.HeadDim // scratch per piece: scores and a value row
	if jobs*(pos+n)*c.HeadDim < minParallelAttention || runtime.GOMAXPROCS(0) == 1 {
		s.attendJobs(kv, li, sc, pos, 0, jobs, sc.scores(span, 1))
		return
	}
	chunk := max(1, jobs/(4*runtime.GOMAXPROCS(0)))
	bufs := sc.scores(span, (jobs+chunk-1)/chunk)
	kernels.ParallelFor(jobs, chunk, func(begin, end int) {
		i := begin / chunk
		s.attendJobs(kv, li, sc, pos, begin, end, bufs[i*span:(i+1)*span])
	})
}

// attendJobs runs jobs [begin,end), job j being position j/Heads, head
// j%Heads, using buf (pos+n+HeadDim values) as scratch.
func (s *Stage) attendJobs(kv *KVCache, li int, sc *scratch, pos, begin, end int, buf []float32) {
	c := &s.cfg
	hd, qd := c.HeadDim, c.QDim()
	group := c.Heads / c.KVHeads
	tmp, scores := buf[:hd], buf[hd:]
	for j := begin; j < end; j++ {
		i, h := j/c.Heads, j%c.Heads
		p := pos + i
		first := 0
		if w := kv.Window(); w > 0 && p-w+1 > 0 {
			first = p - w + 1
		}
		q := sc.q[i*qd+h*hd : i*qd+(h+1)*hd]
		out := sc.att[i*qd+h*hd : i*qd+(h+1)*hd]
		kv.Attend(li, h/group, first, p, q, s.attnScale, scores, out, tmp)
	}
}

// feedForward runs a block's SwiGLU feed-forward sublayer and adds it to x.
func (s *Stage) feedForward(b *block, x []float32, sc *scratch, n int) {
	c := &s.cfg
	d := c.Dim
	for i := 0; i < n; i++ {
		kernels.RMSNorm(sc.xb[i*d:(i+1)*d], x[i*d:(i+1)*d], b.ffnNorm, c.NormEps)
	}
	kernels.MatMuls(sc.xb, n, []*kernels.Matrix{b.gate, b.up}, [][]float32{sc.hb, sc.hb2})
	kernels.SwiGLU(sc.hb, sc.hb2)
	b.down.MatMul(sc.xb, sc.hb, n)
	kernels.Add(x, sc.xb)
}
