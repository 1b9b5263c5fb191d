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
	return s.forward(newRows([]Step{{KV: kv, Pos: pos, N: n}}), x)
}

// Step is one sequence's share of a batch: N hidden states of positions
// [Pos, Pos+N) whose keys and values go to KV.
type Step struct {
	KV     *KVCache
	Pos, N int
}

// ForwardBatch runs the stage's blocks over the steps of several sequences
// at once: x holds each step's N hidden states, step after step (updated in
// place). The weights are read once for all the rows; attention reads each
// sequence's own cache. Every row is computed with exactly Forward's
// arithmetic (matrix rows are dotted one vector at a time, attention is per
// position and head), so a sequence's values are the same bits whatever
// runs beside it. A windowed cache's step may not exceed 64 positions, and
// a sequence may appear once.
func (s *Stage) ForwardBatch(steps []Step, x []float32) error {
	c := &s.cfg
	rows := 0
	seen := make(map[*KVCache]bool, len(steps))
	for i, st := range steps {
		kv := st.KV
		switch {
		case kv == nil || seen[kv]:
			return fmt.Errorf("%w: step %d of the batch has no KV cache or shares one", ErrShape, i)
		case kv.Blocks() != len(s.blocks):
			return fmt.Errorf("%w: KV cache of %d blocks for a stage of %d", ErrShape, kv.Blocks(), len(s.blocks))
		case st.N <= 0 || st.Pos < 0 || st.Pos+st.N > kv.Positions():
			return fmt.Errorf("%w: positions [%d,%d) with room for %d", ErrPosition, st.Pos, st.Pos+st.N, kv.Positions())
		case kv.Window() > 0 && st.N > maxChunk:
			return fmt.Errorf("%w: %d positions in one step of a windowed cache (at most %d)", ErrPosition, st.N, maxChunk)
		}
		seen[kv] = true
		rows += st.N
	}
	if len(x) != rows*c.Dim {
		return fmt.Errorf("%w: %d values for %d positions of %d", ErrShape, len(x), rows, c.Dim)
	}
	if rows == 0 {
		return nil
	}
	return s.forward(newRows(steps), x)
}

// rows says, for each row of a batch, its position and cache.
type rows struct {
	pos []int
	kv  []*KVCache
}

func newRows(steps []Step) *rows {
	r := &rows{}
	for _, st := range steps {
		for i := range st.N {
			r.pos = append(r.pos, st.Pos+i)
			r.kv = append(r.kv, st.KV)
		}
	}
	return r
}

func (s *Stage) forward(r *rows, x []float32) error {
	n := len(r.pos)
	sc := s.newScratch(n)
	for li := range s.blocks {
		s.attention(r, li, x, sc)
		s.feedForward(&s.blocks[li], x, sc, n)
	}
	return nil
}

// attention runs block li's attention sublayer and adds it to x.
func (s *Stage) attention(r *rows, li int, x []float32, sc *scratch) {
	c := &s.cfg
	b := &s.blocks[li]
	d, qd, kvd := c.Dim, c.QDim(), c.KVDim()
	n := len(r.pos)
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
		s.rope.Apply(q, c.HeadDim, r.pos[i])
		s.rope.Apply(k, c.HeadDim, r.pos[i])
		r.kv[i].Store(li, r.pos[i], k, v)
	}
	s.attendAll(r, li, sc)
	b.o.MatMul(sc.xb, sc.att, n)
	kernels.Add(x, sc.xb)
}

// minParallelAttention is the number of query-key products below which a
// layer's attention runs on the calling goroutine.
const minParallelAttention = 1 << 16

// attendAll computes every head's attention output for the rows,
// spreading (row, head) pairs over the cores when there is enough work.
func (s *Stage) attendAll(r *rows, li int, sc *scratch) {
	c := &s.cfg
	n := len(r.pos)
	jobs := n * c.Heads
	last, work := 0, 0
	for _, p := range r.pos {
		last = max(last, p)
		work += c.Heads * (p + 1) * c.HeadDim
	}
	span := last + 1 + c.HeadDim // scratch per piece: scores and a value row
	if work < minParallelAttention || runtime.GOMAXPROCS(0) == 1 {
		s.attendJobs(r, li, sc, 0, jobs, sc.scores(span, 1))
		return
	}
	chunk := max(1, jobs/(4*runtime.GOMAXPROCS(0)))
	bufs := sc.scores(span, (jobs+chunk-1)/chunk)
	kernels.ParallelFor(jobs, chunk, func(begin, end int) {
		i := begin / chunk
		s.attendJobs(r, li, sc, begin, end, bufs[i*span:(i+1)*span])
	})
}

// attendJobs runs jobs [begin,end), job j being row j/Heads, head
// j%Heads, using buf (the last position+1+HeadDim values) as scratch.
func (s *Stage) attendJobs(r *rows, li int, sc *scratch, begin, end int, buf []float32) {
	c := &s.cfg
	hd, qd := c.HeadDim, c.QDim()
	group := c.Heads / c.KVHeads
	tmp, scores := buf[:hd], buf[hd:]
	for j := begin; j < end; j++ {
		i, h := j/c.Heads, j%c.Heads
		p, kv := r.pos[i], r.kv[i]
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
