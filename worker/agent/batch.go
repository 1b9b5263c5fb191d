package agent

import (
	"context"
	"fmt"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxBatchPositions bounds the positions one batch runs: decoding steps
// and prompt pieces together.
const maxBatchPositions = 256

// batchItem is an input that runs in a batch: its session and hidden
// states, or on a first stage that embeds in its forward pass
// (EmbedForward) a one-token step's token, looked up when the batch runs.
type batchItem struct {
	a    *tabshardv1.Activation
	s    *sequence
	x    []float32
	toks []int
}

// HandleAll runs inputs that arrived together, stamped with epoch. The
// inputs that are next in line for their session and make one output each
// run as batches of distinct sessions, of at most maxBatchPositions
// positions, on a Compute that batches; the others run one at a time
// through Handle, in their order. fail hears each input that failed.
func (r *Runner) HandleAll(ctx context.Context, acts []*tabshardv1.Activation, epoch uint64, fail func(*tabshardv1.Activation, error)) {
	r.HandleArrived(ctx, acts, epoch, time.Now(), fail)
}

// HandleArrived is HandleAll of inputs that arrived at arrived (the first
// of them): each step's time outside compute counts from then.
func (r *Runner) HandleArrived(ctx context.Context, acts []*tabshardv1.Activation, epoch uint64, arrived time.Time, fail func(*tabshardv1.Activation, error)) {
	var batch []batchItem
	inBatch := map[string]bool{}
	rows := 0
	flush := func() {
		if len(batch) > 0 {
			if err := r.runBatch(ctx, batch, epoch, &stepTimes{arrived: arrived, metrics: r.Metrics}); err != nil {
				for _, it := range batch {
					fail(it.a, err)
				}
			}
		}
		batch, rows = batch[:0], 0
		clear(inBatch)
	}
	for _, a := range acts {
		it, ok, err := r.batchable(a)
		switch {
		case err != nil:
			fail(a, err)
			continue
		case !ok:
			flush()
			if err := r.handle(ctx, a, epoch, arrived); err != nil {
				fail(a, err)
			}
			continue
		}
		n := int(a.GetTokenCount())
		if inBatch[a.GetSessionId()] || rows+n > maxBatchPositions {
			flush()
		}
		batch = append(batch, it)
		inBatch[a.GetSessionId()] = true
		rows += n
	}
	flush()
}

// batchable says whether a can run in a batch, with its session and
// hidden states: it must be this stage's, next in line for its session,
// and make one output piece.
func (r *Runner) batchable(a *tabshardv1.Activation) (batchItem, bool, error) {
	n := int(a.GetTokenCount())
	if _, ok := As[Batcher](r.Stage); !ok || a.GetStage() != r.Index || n == 0 || r.pieceSize(n) < n {
		return batchItem{}, false, nil
	}
	s, err := r.sequence(a.GetSessionId())
	if err != nil {
		return batchItem{}, false, err
	}
	if a.GetFirstPosition() != s.next || int(s.next)+n > s.kv.Positions() {
		return batchItem{}, false, nil
	}
	if _, ok := As[EmbedForward](r.Stage); ok && r.Stage.Range().First && n == 1 {
		toks, err := r.tokens(a)
		return batchItem{a: a, s: s, toks: toks}, err == nil, err
	}
	x, err := r.input(a)
	if err != nil {
		return batchItem{}, false, err
	}
	return batchItem{a: a, s: s, x: x}, true, nil
}

// forwardBatch runs the items' steps: a lone step whose token is still to
// be looked up through EmbedForward (one submission on a GPU), else the
// tokens looked up and all of them through ForwardBatch.
func (r *Runner) forwardBatch(items []batchItem, steps []Step, times *stepTimes) ([]float32, error) {
	dim := r.Stage.Config().Dim
	if len(items) == 1 && items[0].toks != nil {
		x := make([]float32, len(items[0].toks)*dim)
		err := times.compute(func() error {
			ef, _ := As[EmbedForward](r.Stage)
			return ef.EmbedForward(steps[0].KV, x, items[0].toks, steps[0].Pos)
		})
		return x, err
	}
	var x []float32
	for _, it := range items {
		if it.toks != nil {
			it.x = make([]float32, len(it.toks)*dim)
			if err := r.Stage.Embed(it.x, it.toks); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadActivation, err)
			}
		}
		x = append(x, it.x...)
	}
	b, _ := As[Batcher](r.Stage)
	err := times.compute(func() error { return b.ForwardBatch(steps, x) })
	return x, err
}

// runBatch computes the items as one batch and sends each one's output:
// the next stage's input, or on the last stage the sampled token.
func (r *Runner) runBatch(ctx context.Context, items []batchItem, epoch uint64, times *stepTimes) error {
	dim := r.Stage.Config().Dim
	steps := make([]Step, len(items))
	for i, it := range items {
		steps[i] = Step{KV: it.s.kv, Pos: int(it.a.GetFirstPosition()), N: int(it.a.GetTokenCount())}
	}
	x, err := r.forwardBatch(items, steps, times)
	if err != nil {
		return err
	}
	var sample []int // items whose step ends here, on the last stage
	off := 0
	for i, it := range items {
		st := steps[i]
		it.x = x[off*dim : (off+st.N)*dim]
		items[i] = it
		off += st.N
		p, end := uint32(st.Pos), uint32(st.Pos+st.N)
		it.s.next, it.s.lastIn, it.s.epoch = end, [2]uint32{p, end}, epoch
		it.s.lastActs, it.s.lastTok, it.s.lastNext = nil, nil, nil
		if !r.Stage.Range().Last {
			continue
		}
		if se := it.a.GetStepEnd(); se == 0 || se == end {
			sample = append(sample, i)
		}
	}
	if r.Stage.Range().Last {
		return r.sampleBatch(ctx, items, sample, epoch, times)
	}
	outs := make([]*tabshardv1.Activation, len(items))
	for i, it := range items {
		out, err := r.output(it.a, it.x, it.a.GetFirstPosition(), int(it.a.GetTokenCount()), it.a.GetStepEnd(), epoch)
		if err != nil {
			return err
		}
		out.StageMicros, out.StageBatch, out.StageHostMicros = times.stamp(it.a, len(items))
		it.s.lastActs = []*tabshardv1.Activation{out}
		outs[i] = out
	}
	return r.sendAll(ctx, outs)
}

// BatchOutbox is an Outbox that sends several activations at once (one
// round trip to the log for all, not one each).
type BatchOutbox interface {
	SendActivations(ctx context.Context, acts []*tabshardv1.Activation) error
}

func (r *Runner) sendAll(ctx context.Context, outs []*tabshardv1.Activation) error {
	if b, ok := r.Out.(BatchOutbox); ok && len(outs) > 1 {
		return b.SendActivations(ctx, outs)
	}
	var sendErr error
	for _, out := range outs {
		if sendErr == nil { // after a failed send, the rest waits for a re-issue
			sendErr = r.Out.SendActivation(ctx, out)
		}
	}
	return sendErr
}

// sampleBatch draws the next token of the items picked, their logits
// computed in one pass over the output head.
func (r *Runner) sampleBatch(ctx context.Context, items []batchItem, picked []int, epoch uint64, times *stepTimes) error {
	if len(picked) == 0 {
		return nil
	}
	toks := make([]*tabshardv1.Token, len(picked))
	var greedy, drawn []int // indices into picked
	g, canGreedy := As[Greedy](r.Stage)
	for k, i := range picked {
		a := items[i].a
		sm := a.GetSampling()
		toks[k] = &tabshardv1.Token{
			SessionId: a.GetSessionId(), Epoch: epoch, Position: a.GetFirstPosition() + a.GetTokenCount(),
			RngState: sm.GetRngState(), ProducerWorkerId: r.WorkerID,
		}
		if canGreedy && plainGreedy(sm, newSampler(sm)) {
			greedy = append(greedy, k)
		} else {
			drawn = append(drawn, k)
		}
	}
	if len(greedy) > 0 { // the backend picks them: only indices leave it
		xs := r.lastRows(items, picked, greedy)
		var ids []int
		if err := times.compute(func() (err error) { ids, err = g.Greedy(xs, len(greedy)); return err }); err != nil {
			return err
		}
		for j, k := range greedy {
			toks[k].Id = uint32(ids[j])
		}
	}
	if len(drawn) > 0 {
		if err := r.drawBatch(items, picked, drawn, toks, times); err != nil {
			return err
		}
	}
	// The first stage's next inputs go first, all at once, so that the
	// round reaches it together; then the tokens (each session's next
	// input before its token, as sendToken sends them).
	var nexts []*tabshardv1.Activation
	now := time.Now()
	for k, i := range picked {
		tok := toks[k]
		tok.StageMicros, tok.StageBatch, tok.StageHostMicros = times.stamp(items[i].a, len(items))
		if next := r.tokenSent(items[i].s, items[i].a, tok, epoch, now); next != nil {
			nexts = append(nexts, next)
		}
	}
	if err := r.sendAll(ctx, nexts); err != nil {
		return err // the tokens wait for a re-issue, which re-sends both
	}
	var sendErr error
	for _, tok := range toks {
		if err := r.Out.SendToken(ctx, tok); err != nil && sendErr == nil {
			sendErr = err
		}
	}
	return sendErr
}

// lastRows gathers the last position's hidden state of the items
// picked[k] for each k of which.
func (r *Runner) lastRows(items []batchItem, picked, which []int) []float32 {
	dim := r.Stage.Config().Dim
	xs := make([]float32, 0, len(which)*dim)
	for _, k := range which {
		x := items[picked[k]].x
		xs = append(xs, x[len(x)-dim:]...)
	}
	return xs
}

// drawBatch computes the logits of the items picked[k] for each k of
// which, and draws toks[k] from them as each one's sampling asks.
func (r *Runner) drawBatch(items []batchItem, picked, which []int, toks []*tabshardv1.Token, times *stepTimes) error {
	vocab := r.Stage.Config().Vocab
	xs := r.lastRows(items, picked, which)
	logits := make([]float32, len(which)*vocab)
	if err := times.compute(func() error { return r.Stage.Logits(logits, xs, len(which)) }); err != nil {
		return err
	}
	return times.compute(func() error {
		for j, k := range which {
			sm := items[picked[k]].a.GetSampling()
			draw(toks[k], sm, newSampler(sm), logits[j*vocab:(j+1)*vocab])
		}
		return nil
	})
}

// stepTimes is how long a step's stage computed, and when its input
// arrived: the rest of the time until its output goes out is the stage's
// host overhead (queueing, decoding, encoding).
type stepTimes struct {
	arrived time.Time
	busy    time.Duration
	metrics *Metrics         // counts each stamped step; nil: none
	counted [2]time.Duration // compute and host time counted so far
}

// compute runs f and counts its time as compute.
func (t *stepTimes) compute(f func() error) error {
	start := time.Now()
	err := f()
	t.busy += time.Since(start)
	return err
}

// stamp appends this stage's compute time, batch size and host time so
// far to the earlier stages' of input a.
func (t *stepTimes) stamp(a *tabshardv1.Activation, size int) (micros, batch, host []uint32) {
	hostTime := max(time.Since(t.arrived)-t.busy, 0)
	t.metrics.step(t.busy-t.counted[0], hostTime-t.counted[1], t.counted == [2]time.Duration{}) // a step's pieces count once
	t.counted = [2]time.Duration{t.busy, hostTime}
	micros = append(append([]uint32(nil), a.GetStageMicros()...), toMicros(t.busy))
	batch = append(append([]uint32(nil), a.GetStageBatch()...), uint32(size))
	host = append(append([]uint32(nil), a.GetStageHostMicros()...), toMicros(hostTime))
	return micros, batch, host
}

func toMicros(d time.Duration) uint32 { return uint32(min(d.Microseconds(), 1<<32-1)) }
