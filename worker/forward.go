package worker

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/tabshard/tabshard/kernels"
)

// scratch holds a forward pass's intermediate values for a batch of n.
type scratch struct {
	xb, q, k, v, att, hb, hb2 []float32
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
	b.q.MatMul(sc.q, sc.xb, n)
	b.k.MatMul(sc.k, sc.xb, n)
	b.v.MatMul(sc.v, sc.xb, n)
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

// attendAll computes every head's attention output for the n positions,
// spreading (position, head) pairs over the cores when there is enough work.
func (s *Stage) attendAll(kv *KVCache, li int, sc *scratch, pos, n int) {
	c := &s.cfg
	jobs := n * c.Heads
	workers := runtime.GOMAXPROCS(0)
	if jobs*(pos+n)*c.HeadDim < 1<<16 || workers == 1 {
		s.attendJobs(kv, li, sc, pos, 0, jobs, make([]float32, pos+n+c.HeadDim))
		return
	}
	var wg sync.WaitGroup
	chunk := (jobs + workers - 1) / workers
	for begin := 0; begin < jobs; begin += chunk {
		end := min(begin+chunk, jobs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.attendJobs(kv, li, sc, pos, begin, end, make([]float32, pos+n+c.HeadDim))
		}()
	}
	wg.Wait()
}

// attendJobs runs jobs [begin,end), job j being position j/Heads, head
// j%Heads, using buf (pos+n+HeadDim values) as scratch.
func (s *Stage) attendJobs(kv *KVCache, li int, sc *scratch, pos, begin, end int, buf []float32) {
	c := &s.cfg
	hd := c.HeadDim
	group := c.Heads / c.KVHeads
	tmp, scores := buf[:hd], buf[hd:]
	for j := begin; j < end; j++ {
		i, h := j/c.Heads, j%c.Heads
		p := pos + i
		first := 0
		if w := kv.Window(); w > 0 && p-w+1 > 0 {
			first = p - w + 1
		}
		q := sc.q[i*c.QDim()+h*hd : i*c.QDim()+(h+1)*hd]
		kvh := h / group
		att := scores[:p+1-first]
		for t := first; t <= p; t++ {
			att[t-first] = kv.DotKey(li, t, kvh, q) / s.attnScale
		}
		kernels.Softmax(att)
		out := sc.att[i*c.QDim()+h*hd : i*c.QDim()+(h+1)*hd]
		clear(out)
		for t := first; t <= p; t++ {
			kv.AddValue(li, t, kvh, att[t-first], out, tmp)
		}
	}
}

// feedForward runs a block's SwiGLU feed-forward sublayer and adds it to x.
func (s *Stage) feedForward(b *block, x []float32, sc *scratch, n int) {
	c := &s.cfg
	d := c.Dim
	for i := 0; i < n; i++ {
		kernels.RMSNorm(sc.xb[i*d:(i+1)*d], x[i*d:(i+1)*d], b.ffnNorm, c.NormEps)
	}
	b.gate.MatMul(sc.hb, sc.xb, n)
	b.up.MatMul(sc.hb2, sc.xb, n)
	kernels.SwiGLU(sc.hb, sc.hb2)
	b.down.MatMul(sc.xb, sc.hb, n)
	kernels.Add(x, sc.xb)
}
