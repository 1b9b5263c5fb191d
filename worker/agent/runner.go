package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/kernels"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// Outbox is where a runner's results go: the next stage's input or the
// sampled token, and the activation log it rebuilds KV caches from.
type Outbox interface {
	SendActivation(ctx context.Context, a *tabshardv1.Activation) error
	SendToken(ctx context.Context, t *tabshardv1.Token) error
	// Replay calls fn for the logged inputs of stage covering positions
	// [from, to) of session, in order.
	Replay(ctx context.Context, session string, stage, from, to uint32, fn func(*tabshardv1.Activation) error) error
}

// Runner runs one stage of a plan for many sessions. Each input is
// idempotent: a position already run is not run again (its remembered
// output is re-sent), and a gap is filled from the activation log first.
// It is not safe for concurrent use: one goroutine feeds it.
type Runner struct {
	Stage    Compute
	Index    uint32
	WorkerID string
	// Options size each session's KV cache.
	Options worker.Options
	// Wire is the type hidden states travel as: F32 (the zero value) or
	// F16.
	Wire kernels.DType
	Out  Outbox
	Log  *slog.Logger
	// MaxSessions is how many sessions' KV caches the runner holds (the
	// plan's max_sessions). A cache is never evicted: a new session past
	// the limit gets ErrFull until Free drops an ended one.
	MaxSessions int
	// MaxPositions is the most positions one output activation carries
	// (the bus's message limit over a position's bytes); a longer step
	// goes in pieces. Zero: no limit.
	MaxPositions int
	// Metrics, when set, counts each step's compute and host time.
	Metrics *Metrics
	// PrefillChunk, when set, cuts long steps into pieces of at most this
	// many positions, each computed and sent before the next, so that the
	// stages of a pipeline work on a prompt at once. Zero: no cut.
	PrefillChunk int

	sessions map[string]*sequence
}

// ErrFull is an input of a new session while the runner holds MaxSessions
// sessions' KV caches: it may run once an ended session is freed.
var ErrFull = errors.New("no room for another session's KV cache")

// maxPositions is how many positions of positionBytes bytes fit a message
// of limit bytes with room for the rest of the activation (0: no limit
// known).
func maxPositions(limit int64, positionBytes int) int {
	if limit <= 0 || positionBytes <= 0 {
		return 0
	}
	room := min(64<<10, limit/4)
	return max(int((limit-room)/int64(positionBytes)), 1)
}

// wireType is the type hidden states travel as: F32 unless Wire asks
// for F16.
func (r *Runner) wireType() kernels.DType {
	if r.Wire == kernels.F16 {
		return kernels.F16
	}
	return kernels.F32
}

// PositionBytes is the size of one position's hidden state on the wire.
func (r *Runner) PositionBytes() int {
	n, _ := r.wireType().RowBytes(int64(r.Stage.Config().Dim))
	return int(n)
}

// sequence is one session's state on this stage.
type sequence struct {
	kv       KV
	next     uint32
	epoch    uint64                   // of the last input run
	lastIn   [2]uint32                // the last input's [first, end) positions
	lastActs []*tabshardv1.Activation // the last input's output pieces
	lastTok  *tabshardv1.Token
	lastNext *tabshardv1.Activation // the first stage's input the last stage sent after lastTok
	sentAt   time.Time              // when the last stage sent lastNext
}

// Handle runs one input activation stamped with epoch (the runner's
// current epoch, which outputs carry).
func (r *Runner) Handle(ctx context.Context, a *tabshardv1.Activation, epoch uint64) error {
	return r.handle(ctx, a, epoch, time.Now())
}

// handle is Handle of an input that arrived at arrived: the step's time
// outside compute is counted from then.
func (r *Runner) handle(ctx context.Context, a *tabshardv1.Activation, epoch uint64, arrived time.Time) error {
	if a.GetStage() != r.Index {
		return fmt.Errorf("%w: for stage %d, this is stage %d", ErrBadActivation, a.GetStage(), r.Index)
	}
	s, err := r.sequence(a.GetSessionId())
	if err != nil {
		return err
	}
	p, end := a.GetFirstPosition(), a.GetFirstPosition()+a.GetTokenCount()
	switch {
	case a.GetTokenCount() == 0:
		return fmt.Errorf("%w: no positions", ErrBadActivation)
	case end <= s.next && (end == s.lastIn[1] || epoch <= s.epoch):
		return r.resend(ctx, s, end, epoch)
	case p < s.next && epoch <= s.epoch:
		return fmt.Errorf("%w: positions [%d,%d) overlap the %d already run", ErrBadActivation, p, end, s.next)
	case p < s.next:
		r.rewind(s, p)
	}
	if p > s.next {
		if err := r.replay(ctx, a.GetSessionId(), s, p); err != nil {
			return err
		}
	}
	return r.run(ctx, s, a, epoch, &stepTimes{arrived: arrived, metrics: r.Metrics})
}

// rewind moves a session back to position p: a new epoch re-issues the
// step after the committed tokens, and this stage ran ahead of it (the
// tokens the last stage sent straight to the first stage before they
// committed). Runs are deterministic, so running the positions from p
// again gives the same bits. A cache whose sliding window reuses slots
// lost positions before p to the ones it ran past p: it starts over,
// rebuilt from the activation log.
func (r *Runner) rewind(s *sequence, p uint32) {
	r.Log.Info("rewinding a session to the re-issued step", "stage", r.Index, "from", s.next, "to", p)
	s.next = p
	if w, ok := s.kv.(interface{ Window() int }); ok && w.Window() > 0 && w.Window() < s.kv.Positions() {
		s.next = 0
	}
	s.lastIn, s.lastActs, s.lastTok, s.lastNext, s.sentAt = [2]uint32{}, nil, nil, nil, time.Time{}
}

func (r *Runner) sequence(id string) (*sequence, error) {
	if r.sessions == nil {
		r.sessions = map[string]*sequence{}
	}
	if s, ok := r.sessions[id]; ok {
		return s, nil
	}
	if limit := max(r.MaxSessions, 1); len(r.sessions) >= limit {
		return nil, fmt.Errorf("%w: session %s, %d held", ErrFull, id, len(r.sessions))
	}
	kv, err := r.Stage.NewKV(r.Options)
	if err != nil {
		return nil, err
	}
	s := &sequence{kv: kv}
	r.sessions[id] = s
	return s, nil
}

// Forget drops a session's state.
func (r *Runner) Forget(session string) { r.drop(session) }

// Free drops the state of the sessions that ended and says how many it
// held.
func (r *Runner) Free(ended []string) int {
	n := 0
	for _, id := range ended {
		if r.drop(id) {
			n++
		}
	}
	return n
}

// Close drops every session's state and frees the stage's own memory:
// the runner must not be used after. A member closes the runner it
// replaces, so that a tab that changes stages gives its GPU buffers back
// then, not when a garbage collection happens to run.
func (r *Runner) Close() {
	for id := range r.sessions {
		r.drop(id)
	}
	if c, ok := As[interface{ Close() }](r.Stage); ok {
		c.Close()
	}
}

// drop frees session id's KV cache, saying whether the runner held one.
// A cache in memory Go's collector does not see (GPU buffers) is
// released here.
func (r *Runner) drop(id string) bool {
	s, ok := r.sessions[id]
	if !ok {
		return false
	}
	if rel, ok := s.kv.(interface{ Release() }); ok {
		rel.Release()
	}
	delete(r.sessions, id)
	return true
}

// Sessions is how many sessions' KV caches the runner holds.
func (r *Runner) Sessions() int { return len(r.sessions) }

// resend re-sends the output of the last input when positions ending
// where it ended come again (a step the coordinator re-issued, maybe cut
// into other pieces upstream), stamped with the current epoch. Older
// inputs are dropped: their outputs have been consumed.
func (r *Runner) resend(ctx context.Context, s *sequence, end uint32, epoch uint64) error {
	if end != s.lastIn[1] {
		return nil
	}
	if s.lastTok != nil {
		if s.lastNext != nil {
			a := proto.Clone(s.lastNext).(*tabshardv1.Activation)
			a.Epoch = epoch
			if err := r.Out.SendActivation(ctx, a); err != nil {
				return err
			}
		}
		t := proto.Clone(s.lastTok).(*tabshardv1.Token)
		t.Epoch = epoch
		return r.Out.SendToken(ctx, t)
	}
	for _, a := range s.lastActs {
		a = proto.Clone(a).(*tabshardv1.Activation)
		a.Epoch = epoch
		if err := r.Out.SendActivation(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// replay rebuilds the session's KV cache from the logged inputs of
// positions [s.next, upTo), sending nothing.
func (r *Runner) replay(ctx context.Context, session string, s *sequence, upTo uint32) error {
	r.Log.Info("rebuilding KV cache from the activation log", "session", session, "stage", r.Index, "from", s.next, "to", upTo)
	err := r.Out.Replay(ctx, session, r.Index, s.next, upTo, func(a *tabshardv1.Activation) error {
		if a.GetFirstPosition() != s.next {
			return nil // a duplicate or an overlap in the log
		}
		return r.run(ctx, s, a, a.GetEpoch(), nil)
	})
	if err != nil {
		return fmt.Errorf("replay of session %s stage %d [%d,%d): %w", session, r.Index, s.next, upTo, err)
	}
	if s.next != upTo {
		return fmt.Errorf("replay of session %s stage %d stopped at position %d of %d: the log lacks inputs", session, r.Index, s.next, upTo)
	}
	return nil
}

// run computes one input and, when times is set, sends its output
// stamped with the stage's compute time and the time outside it (a replay
// passes nil: it sends nothing).
func (r *Runner) run(ctx context.Context, s *sequence, a *tabshardv1.Activation, epoch uint64, times *stepTimes) error {
	send := times != nil
	if times == nil {
		times = &stepTimes{arrived: time.Now()}
	}
	x, forward, err := r.stepInput(a)
	if err != nil {
		return err
	}
	n := int(a.GetTokenCount())
	p := a.GetFirstPosition()
	s.lastActs, s.lastTok, s.lastNext, s.epoch = nil, nil, nil, epoch
	if r.Stage.Range().Last {
		if err := times.compute(func() error { return forward(s.kv, x, int(p), n) }); err != nil {
			return err
		}
		s.next, s.lastIn = p+uint32(n), [2]uint32{p, p + uint32(n)}
		if end := a.GetStepEnd(); end != 0 && end != p+uint32(n) {
			return nil // a piece of a step: the token comes after its last
		}
		var tok *tabshardv1.Token
		err := times.compute(func() (err error) { tok, err = r.sample(a, x, n, epoch); return err })
		if err != nil || !send {
			return err
		}
		tok.StageMicros, tok.StageBatch, tok.StageHostMicros = times.stamp(a, 1)
		return r.sendToken(ctx, s, a, tok, epoch)
	}
	// A long step goes in pieces, each sent as soon as it is computed, so
	// that the next stage starts on a prompt while this one goes on.
	dim := r.Stage.Config().Dim
	piece := r.pieceSize(n)
	stepEnd := a.GetStepEnd() // a piece of a step already: keep its end
	if stepEnd == 0 && piece < n {
		stepEnd = p + uint32(n)
	}
	s.lastIn = [2]uint32{p, p + uint32(n)}
	var sendErr error
	for off := 0; off < n; off += piece {
		k := min(piece, n-off)
		xs := x[off*dim : (off+k)*dim]
		if err := times.compute(func() error { return forward(s.kv, xs, int(p)+off, k) }); err != nil {
			return err
		}
		s.next = p + uint32(off+k)
		out, err := r.output(a, xs, p+uint32(off), k, stepEnd, epoch)
		if err != nil {
			return err
		}
		s.lastActs = append(s.lastActs, out)
		if send && sendErr == nil { // after a failed send, compute the rest: a re-issue re-sends it all
			out.StageMicros, out.StageBatch, out.StageHostMicros = times.stamp(a, 1)
			sendErr = r.Out.SendActivation(ctx, out)
		}
	}
	return sendErr
}

// sendToken sends the token the last stage sampled for input a: first,
// when the step asks for it, the next step straight to the first stage,
// then the token to the coordinators, which commit it.
func (r *Runner) sendToken(ctx context.Context, s *sequence, a *tabshardv1.Activation, tok *tabshardv1.Token, epoch uint64) error {
	if next := r.tokenSent(s, a, tok, epoch, time.Now()); next != nil {
		if err := r.Out.SendActivation(ctx, next); err != nil {
			return err
		}
	}
	return r.Out.SendToken(ctx, tok)
}

// tokenSent records tok, the token the last stage sampled for input a,
// as sent at now, and returns the first stage's next input to send before
// it (nil: none).
func (r *Runner) tokenSent(s *sequence, a *tabshardv1.Activation, tok *tabshardv1.Token, epoch uint64, now time.Time) *tabshardv1.Activation {
	s.lastTok, s.lastNext = tok, nextStep(a, tok, epoch, r.WorkerID)
	if !s.sentAt.IsZero() { // since the step this stage sent: one loop
		tok.LoopMicros = toMicros(now.Sub(s.sentAt))
	}
	s.sentAt = time.Time{}
	if s.lastNext != nil {
		s.sentAt = now
	}
	return s.lastNext
}

// nextStep is the first stage's input after tok, the token the last stage
// sampled for input a, when a's sampling asks the last stage to send it
// (Sampling.end_position) and the session goes on after tok: tok is not a
// stop token and its position is before the end. It carries the sampling
// moved on by tok: the generator state after the draw, and the penalties'
// window with tok. nil otherwise.
func nextStep(a *tabshardv1.Activation, tok *tabshardv1.Token, epoch uint64, worker string) *tabshardv1.Activation {
	sm := a.GetSampling()
	if sm.GetEndPosition() == 0 || tok.GetPosition()+1 >= sm.GetEndPosition() || slices.Contains(sm.GetStopTokens(), tok.GetId()) {
		return nil
	}
	next := proto.Clone(sm).(*tabshardv1.Sampling)
	next.RngState = tok.GetRngState()
	if w := int(sm.GetRecentWindow()); w > 0 {
		recent := append(slices.Clone(sm.GetRecentTokens()), tok.GetId())
		next.RecentTokens = recent[max(0, len(recent)-w):]
	}
	return &tabshardv1.Activation{
		SessionId: a.GetSessionId(), Epoch: epoch, Stage: 0, FirstPosition: tok.GetPosition(), TokenCount: 1,
		Tokens: []uint32{tok.GetId()}, Sampling: next, ProducerWorkerId: worker,
	}
}

// prefillChunk is the PrefillChunk workers use: the plan's prefill batch,
// the positions the stage runs a submission (so that a piece is one
// submission on a GPU stage), or 256 for a plan that names none.
func prefillChunk(batch int) int {
	if batch <= 0 {
		return 256
	}
	return batch
}

// pieceSize is how many positions of a step of n go in one piece: at most
// MaxPositions (the bus's message limit) and PrefillChunk.
func (r *Runner) pieceSize(n int) int {
	piece := n
	if r.MaxPositions > 0 {
		piece = min(piece, r.MaxPositions)
	}
	if r.PrefillChunk > 0 {
		piece = min(piece, r.PrefillChunk)
	}
	return piece
}

// input turns an activation into hidden states: embedded tokens on the
// first stage, decoded payload elsewhere.
func (r *Runner) input(a *tabshardv1.Activation) ([]float32, error) {
	dim := r.Stage.Config().Dim
	if !r.Stage.Range().First {
		return decodeHidden(a, dim)
	}
	toks, err := r.tokens(a)
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(toks)*dim)
	if err := r.Stage.Embed(x, toks); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadActivation, err)
	}
	return x, nil
}

// tokens are a first stage's input tokens, checked against the
// vocabulary.
func (r *Runner) tokens(a *tabshardv1.Activation) ([]int, error) {
	if len(a.GetTokens()) != int(a.GetTokenCount()) {
		return nil, fmt.Errorf("%w: %d tokens for %d positions", ErrBadActivation, len(a.GetTokens()), a.GetTokenCount())
	}
	vocab := r.Stage.Config().Vocab
	toks := make([]int, len(a.GetTokens()))
	for i, t := range a.GetTokens() {
		if int64(t) >= int64(vocab) {
			return nil, fmt.Errorf("%w: token %d out of vocabulary [0,%d)", ErrBadActivation, t, vocab)
		}
		toks[i] = int(t)
	}
	return toks, nil
}

// stepInput is input with the forward call that takes it: on a first
// stage that embeds and runs its blocks in one go (EmbedForward), a
// decoding step's x is left for that call to fill.
func (r *Runner) stepInput(a *tabshardv1.Activation) ([]float32, func(kv KV, x []float32, pos, n int) error, error) {
	ef, ok := As[EmbedForward](r.Stage)
	if !ok || !r.Stage.Range().First || a.GetTokenCount() != 1 {
		x, err := r.input(a)
		return x, r.Stage.Forward, err
	}
	toks, err := r.tokens(a)
	if err != nil {
		return nil, nil, err
	}
	x := make([]float32, len(toks)*r.Stage.Config().Dim)
	return x, func(kv KV, x []float32, pos, _ int) error { return ef.EmbedForward(kv, x, toks, pos) }, nil
}

// sample draws the token after the input's last position, with the
// log-probabilities the sampling asks for.
func (r *Runner) sample(a *tabshardv1.Activation, x []float32, n int, epoch uint64) (*tabshardv1.Token, error) {
	dim := r.Stage.Config().Dim
	sm := a.GetSampling()
	tok := &tabshardv1.Token{
		SessionId: a.GetSessionId(), Epoch: epoch, Position: a.GetFirstPosition() + uint32(n),
		RngState: sm.GetRngState(), ProducerWorkerId: r.WorkerID,
	}
	sampler := newSampler(sm)
	if g, ok := As[Greedy](r.Stage); ok && plainGreedy(sm, sampler) { // argmax draws nothing
		ids, err := g.Greedy(x[(n-1)*dim:], 1)
		if err != nil {
			return nil, err
		}
		tok.Id = uint32(ids[0])
		return tok, nil
	}
	logits := make([]float32, r.Stage.Config().Vocab)
	if err := r.Stage.Logits(logits, x[(n-1)*dim:], 1); err != nil {
		return nil, err
	}
	draw(tok, sm, sampler, logits)
	return tok, nil
}

// draw picks the token from logits (overwritten) with sampler, as the
// activation's sampling sm asks, with its log-probabilities if asked.
func draw(tok *tabshardv1.Token, sm *tabshardv1.Sampling, sampler *worker.Sampler, logits []float32) {
	var raw []float32
	if sm.GetLogprobs() {
		raw = append([]float32(nil), logits...) // Sample overwrites logits
	}
	tok.Id = uint32(sampler.Sample(logits))
	tok.RngState = sampler.RNG.State
	if raw != nil {
		tok.Logprobs = logprobs(raw, int(tok.Id), int(sm.GetTopLogprobs()))
	}
}

// newSampler is the sampler an activation's sampling describes.
func newSampler(sm *tabshardv1.Sampling) *worker.Sampler {
	s := worker.NewSampler(sm.GetTemperature(), sm.GetTopP(), sm.GetRngState())
	if len(sm.GetLogitBias()) > 0 {
		s.Bias = make(map[int]float32, len(sm.GetLogitBias()))
		for _, b := range sm.GetLogitBias() {
			s.Bias[int(b.GetToken())] += b.GetBias()
		}
	}
	s.Penalties = worker.Penalties{Repeat: sm.GetRepeatPenalty(), Frequency: sm.GetFrequencyPenalty(), Presence: sm.GetPresencePenalty()}
	for _, id := range sm.GetRecentTokens() {
		s.Penalties.Recent = append(s.Penalties.Recent, int(id))
	}
	return s
}

// plainGreedy reports whether the token is the argmax of the raw logits
// and nothing else is asked for.
func plainGreedy(sm *tabshardv1.Sampling, s *worker.Sampler) bool {
	return sm.GetTemperature() == 0 && !sm.GetLogprobs() && len(s.Bias) == 0 && !s.Penalties.Active()
}

// logprobs is the wire form of worker.LogProbs.
func logprobs(logits []float32, chosen, top int) *tabshardv1.TokenLogprobs {
	lp, best := worker.LogProbs(logits, chosen, top)
	out := &tabshardv1.TokenLogprobs{Logprob: lp}
	for _, b := range best {
		out.Top = append(out.Top, &tabshardv1.TokenLogprob{Token: uint32(b.ID), Logprob: b.Logprob})
	}
	return out
}

// output packs the hidden states of k positions from first for the next
// stage.
func (r *Runner) output(a *tabshardv1.Activation, x []float32, first uint32, k int, stepEnd uint32, epoch uint64) (*tabshardv1.Activation, error) {
	dim := r.Stage.Config().Dim
	wire := r.wireType()
	payload, err := encodeHidden(x, k, dim, wire)
	if err != nil {
		return nil, err
	}
	return &tabshardv1.Activation{
		SessionId: a.GetSessionId(), Epoch: epoch, Stage: r.Index + 1,
		FirstPosition: first, TokenCount: uint32(k), Dtype: protoType(wire),
		Shape: []uint32{uint32(k), uint32(dim)}, Payload: payload, Sampling: a.GetSampling(),
		ProducerWorkerId: r.WorkerID, StepEnd: stepEnd,
	}, nil
}
