package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// memBus is an in-memory Outbox shared by the runners of one pipeline: a
// queue of messages and the activation log.
type memBus struct {
	queue  []*tabshardv1.Activation
	tokens []*tabshardv1.Token
	log    map[string][]*tabshardv1.Activation // session/stage → inputs
}

func key(session string, stage uint32) string { return session + "/" + strconv.Itoa(int(stage)) }

func (b *memBus) SendActivation(_ context.Context, a *tabshardv1.Activation) error {
	if b.log == nil {
		b.log = map[string][]*tabshardv1.Activation{}
	}
	k := key(a.GetSessionId(), a.GetStage())
	b.log[k] = append(b.log[k], a)
	b.queue = append(b.queue, a)
	return nil
}

func (b *memBus) SendToken(_ context.Context, t *tabshardv1.Token) error {
	b.tokens = append(b.tokens, t)
	return nil
}

func (b *memBus) Replay(_ context.Context, session string, stage, from, to uint32, fn func(*tabshardv1.Activation) error) error {
	for _, a := range b.log[key(session, stage)] {
		if a.GetFirstPosition() >= from && a.GetFirstPosition() < to {
			if err := fn(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func stories(t *testing.T) *model.Model {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newRunner(t *testing.T, m *model.Model, bus *memBus, index uint32, r worker.Range) *Runner {
	t.Helper()
	s, err := CPU(context.Background(), m, r, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Stage: s, Index: index, WorkerID: "w" + strconv.Itoa(int(index)), Options: worker.Options{Positions: 512},
		Out: bus, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), MaxSessions: 4}
}

// pipeline is three runners over blocks [0,2), [2,4), [4,5).
func pipeline(t *testing.T, m *model.Model, bus *memBus) []*Runner {
	return []*Runner{
		newRunner(t, m, bus, 0, worker.Range{Begin: 0, End: 2, First: true}),
		newRunner(t, m, bus, 1, worker.Range{Begin: 2, End: 4}),
		newRunner(t, m, bus, 2, worker.Range{Begin: 4, End: 5, Last: true}),
	}
}

// drive plays the coordinator: it sends the prompt, then each committed
// token, delivering messages until steps positions ran. before is called
// ahead of each step.
func drive(t *testing.T, bus *memBus, runners []*Runner, prompt []uint32, steps int, sampling *tabshardv1.Sampling, before func(pos int)) []uint32 {
	t.Helper()
	ctx := context.Background()
	var generated []uint32
	in := &tabshardv1.Activation{SessionId: "s1", Epoch: 1, Stage: 0, FirstPosition: 0, TokenCount: uint32(len(prompt)), Tokens: prompt, Sampling: sampling}
	for pos := len(prompt) - 1; pos < steps; pos++ {
		if before != nil {
			before(pos)
		}
		bus.SendActivation(ctx, in)
		for len(bus.queue) > 0 {
			a := bus.queue[0]
			bus.queue = bus.queue[1:]
			if err := runners[a.GetStage()].Handle(ctx, a, 1); err != nil {
				t.Fatalf("stage %d: %v", a.GetStage(), err)
			}
		}
		tok := bus.tokens[len(bus.tokens)-1]
		if tok.GetPosition() != uint32(pos+1) {
			t.Fatalf("token for position %d after running position %d", tok.GetPosition(), pos)
		}
		generated = append(generated, tok.GetId())
		sampling = proto.Clone(sampling).(*tabshardv1.Sampling)
		sampling.RngState = tok.GetRngState()
		in = &tabshardv1.Activation{SessionId: "s1", Epoch: 1, FirstPosition: uint32(pos + 1), TokenCount: 1, Tokens: []uint32{tok.GetId()}, Sampling: sampling}
	}
	return generated
}

func oracleIDs(t *testing.T, name string) []uint32 {
	b, err := os.ReadFile("../../testdata/stories260K/" + name)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if ids, ok := strings.CutPrefix(line, "generated_ids: "); ok {
			var out []uint32
			for _, f := range strings.Fields(ids) {
				n, _ := strconv.Atoi(f)
				out = append(out, uint32(n))
			}
			return out
		}
	}
	t.Fatal("no generated_ids")
	return nil
}

func TestRunnersProduceOracle(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	got := drive(t, bus, pipeline(t, m, bus), []uint32{1}, 100, &tabshardv1.Sampling{Temperature: 1, TopP: 0.9, RngState: 42}, nil)
	if want := oracleIDs(t, "noprompt_t1_p0.9_s42_n100.ids.txt"); !equal(got, want) {
		t.Fatalf("got %v\nrun.c %v", got, want)
	}
}

// Replacing any stage's runner with a fresh one (a standby with no KV
// cache) mid-generation changes nothing: it rebuilds from the log.
func TestFreshRunnerRebuildsFromLog(t *testing.T) {
	m := stories(t)
	want := oracleIDs(t, "once_upon_a_time_t0_n64.ids.txt")
	prompt := []uint32{1, 403, 407, 261, 378}
	ranges := []worker.Range{{Begin: 0, End: 2, First: true}, {Begin: 2, End: 4}, {Begin: 4, End: 5, Last: true}}
	for stage := range 3 {
		bus := &memBus{}
		runners := pipeline(t, m, bus)
		got := drive(t, bus, runners, prompt, 64, &tabshardv1.Sampling{}, func(pos int) {
			if pos == 30 {
				runners[stage] = newRunner(t, m, bus, uint32(stage), ranges[stage])
			}
		})
		if !equal(got, want) {
			t.Fatalf("stage %d replaced: %v\nrun.c %v", stage, got, want)
		}
	}
}

// A step longer than MaxPositions goes in pieces — split again by a later
// stage with a smaller limit — and the text is the same: one token per
// step, sampled after the step's last piece; a fresh runner rebuilds from
// pieces in the log, and a re-issued step re-sends every piece.
func TestPiecesKeepTheText(t *testing.T) {
	m := stories(t)
	want := oracleIDs(t, "once_upon_a_time_t0_n64.ids.txt")
	prompt := []uint32{1, 403, 407, 261, 378}
	ranges := []worker.Range{{Begin: 0, End: 2, First: true}, {Begin: 2, End: 4}, {Begin: 4, End: 5, Last: true}}
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	runners[0].MaxPositions, runners[1].MaxPositions = 2, 1
	got := drive(t, bus, runners, prompt, 64, &tabshardv1.Sampling{}, func(pos int) {
		if pos == 30 {
			runners[2] = newRunner(t, m, bus, 2, ranges[2])
		}
	})
	if !equal(got, want) {
		t.Fatalf("in pieces: %v\nrun.c %v", got, want)
	}
	if len(bus.tokens) != 64-len(prompt)+1 {
		t.Fatalf("%d tokens for %d steps", len(bus.tokens), 64-len(prompt)+1)
	}
	if in := bus.log[key("s1", 2)]; len(in) < len(prompt) || in[0].GetTokenCount() != 1 || in[0].GetStepEnd() != uint32(len(prompt)) {
		t.Fatalf("the last stage's prompt inputs: %v", in[:min(len(in), 5)])
	}
	bus.queue = nil
	first := bus.log[key("s1", 0)][0]
	r := newRunner(t, m, bus, 0, ranges[0])
	r.MaxPositions = 2
	ctx := context.Background()
	if err := r.Handle(ctx, first, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(ctx, first, 2); err != nil {
		t.Fatal(err)
	}
	if len(bus.queue) != 6 || bus.queue[3].GetEpoch() != 2 || bus.queue[5].GetFirstPosition() != 4 {
		t.Fatalf("a re-issued prompt sent %d pieces, want 3 then the same 3", len(bus.queue))
	}
}

// countingStage counts Forward calls; sendOrder records, at each send,
// how many there had been.
type countingStage struct {
	Compute
	forwards int
}

func (c *countingStage) Forward(kv KV, x []float32, pos, n int) error {
	c.forwards++
	return c.Compute.Forward(kv, x, pos, n)
}

type sendOrder struct {
	Outbox
	stage *countingStage
	at    []int
}

func (o *sendOrder) SendActivation(ctx context.Context, a *tabshardv1.Activation) error {
	o.at = append(o.at, o.stage.forwards)
	return o.Outbox.SendActivation(ctx, a)
}

// With PrefillChunk a prompt goes on in pieces, each sent as soon as it
// is computed, and the text is the same.
func TestPrefillChunksGoAsComputed(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	cs := &countingStage{Compute: runners[0].Stage}
	order := &sendOrder{Outbox: bus, stage: cs}
	runners[0].Stage, runners[0].Out, runners[0].PrefillChunk = cs, order, 2
	prompt := []uint32{1, 403, 407, 261, 378}
	got := drive(t, bus, runners, prompt, 64, &tabshardv1.Sampling{}, nil)
	if want := oracleIDs(t, "once_upon_a_time_t0_n64.ids.txt"); !equal(got, want) {
		t.Fatalf("in chunks: %v\nrun.c %v", got, want)
	}
	if len(order.at) < 3 || order.at[0] != 1 || order.at[1] != 2 || order.at[2] != 3 {
		t.Fatalf("the prompt's pieces were sent after forwards %v, want 1, 2, 3", order.at[:min(3, len(order.at))])
	}
	if in := bus.log[key("s1", 1)]; in[0].GetTokenCount() != 2 || in[0].GetStepEnd() != 5 || in[2].GetTokenCount() != 1 {
		t.Fatalf("stage 1's prompt inputs: %v", in[:3])
	}
}

// A re-issued step that reaches the last stage cut into other pieces
// (another worker upstream, another message limit) still gets its token
// re-sent: what counts is where the input ends.
func TestResendAfterOtherPieces(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	runners[0].MaxPositions, runners[1].MaxPositions = 2, 1
	prompt := []uint32{1, 403, 407, 261, 378}
	drive(t, bus, runners, prompt, len(prompt), &tabshardv1.Sampling{}, nil)
	in := bus.log[key("s1", 2)]
	a, b := in[len(in)-2], in[len(in)-1] // positions 3 and 4, one each
	merged := &tabshardv1.Activation{SessionId: "s1", Epoch: 2, Stage: 2, FirstPosition: 3, TokenCount: 2, Dtype: a.GetDtype(),
		Shape: []uint32{2, a.GetShape()[1]}, Payload: append(append([]byte(nil), a.GetPayload()...), b.GetPayload()...), StepEnd: 5}
	if err := runners[2].Handle(context.Background(), merged, 2); err != nil {
		t.Fatal(err)
	}
	if len(bus.tokens) != 2 || bus.tokens[1].GetEpoch() != 2 || bus.tokens[1].GetId() != bus.tokens[0].GetId() {
		t.Fatalf("tokens after the re-issue: %v", bus.tokens)
	}
}

// greedyStage is a CPU stage that also picks greedy tokens itself, as the
// WebGPU stage does, counting the calls.
type greedyStage struct {
	Compute
	calls, rows int
}

func (g *greedyStage) Greedy(x []float32, n int) ([]int, error) {
	g.calls++
	g.rows += n
	c := g.Config()
	out := make([]int, n)
	logits := make([]float32, c.Vocab)
	for i := range n {
		if err := g.Logits(logits, append([]float32(nil), x[i*c.Dim:(i+1)*c.Dim]...), 1); err != nil {
			return nil, err
		}
		out[i] = kernels.Argmax(logits)
	}
	return out, nil
}

// The last stage asks a Greedy stage for the token at temperature 0 (and
// the text is the oracle's), and samples from logits otherwise.
func TestGreedyStage(t *testing.T) {
	m := stories(t)
	for _, c := range []struct {
		sampling *tabshardv1.Sampling
		oracle   string
		greedy   bool
	}{
		{&tabshardv1.Sampling{}, "once_upon_a_time_t0_n64.ids.txt", true},
		{&tabshardv1.Sampling{Temperature: 1, TopP: 0.9, RngState: 42}, "noprompt_t1_p0.9_s42_n100.ids.txt", false},
	} {
		bus := &memBus{}
		runners := pipeline(t, m, bus)
		g := &greedyStage{Compute: runners[2].Stage}
		runners[2].Stage = g
		prompt, steps := []uint32{1, 403, 407, 261, 378}, 64
		if !c.greedy {
			prompt, steps = []uint32{1}, 100
		}
		got := drive(t, bus, runners, prompt, steps, c.sampling, nil)
		if want := oracleIDs(t, c.oracle); !equal(got, want) {
			t.Fatalf("%s: %v\nrun.c %v", c.oracle, got, want)
		}
		if want := steps - len(prompt) + 1; c.greedy != (g.calls == want) || !c.greedy && g.calls != 0 {
			t.Fatalf("%s: %d calls to Greedy for %d tokens", c.oracle, g.calls, want)
		}
	}
}

// embedForwardStage is a CPU stage that embeds and runs its blocks in one
// call, as the WebGPU stage does, counting the calls.
type embedForwardStage struct {
	Compute
	calls int
}

func (e *embedForwardStage) EmbedForward(kv KV, x []float32, tokens []int, pos int) error {
	e.calls++
	if err := e.Embed(x, tokens); err != nil {
		return err
	}
	return e.Forward(kv, x, pos, len(tokens))
}

// A first stage that embeds and runs its blocks in one go gets each
// decoding step's tokens through EmbedForward (the prompt goes through
// Embed then Forward), and the text is the oracle's; a token past the
// vocabulary is refused as a bad activation.
func TestEmbedForwardStage(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	e := &embedForwardStage{Compute: runners[0].Stage}
	runners[0].Stage = e
	prompt, steps := []uint32{1, 403, 407, 261, 378}, 64
	got := drive(t, bus, runners, prompt, steps, &tabshardv1.Sampling{}, nil)
	if want := oracleIDs(t, "once_upon_a_time_t0_n64.ids.txt"); !equal(got, want) {
		t.Fatalf("%v\nrun.c %v", got, want)
	}
	if want := steps - len(prompt); e.calls != want {
		t.Fatalf("%d calls to EmbedForward for %d decoding steps", e.calls, want)
	}
	bad := &tabshardv1.Activation{SessionId: "s2", Epoch: 1, TokenCount: 1, Tokens: []uint32{uint32(m.Config.Vocab)}, Sampling: &tabshardv1.Sampling{}}
	if err := runners[0].Handle(context.Background(), bad, 1); !errors.Is(err, ErrBadActivation) {
		t.Fatalf("a token past the vocabulary: %v, want ErrBadActivation", err)
	}
	if e.calls != steps-len(prompt) {
		t.Fatal("EmbedForward ran for a refused activation")
	}
}

// A re-issued step is answered from memory: the same output, once more.
func TestDuplicateInputResendsOutput(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	r := newRunner(t, m, bus, 0, worker.Range{Begin: 0, End: 2, First: true})
	in := &tabshardv1.Activation{SessionId: "s", FirstPosition: 0, TokenCount: 2, Tokens: []uint32{1, 403}}
	ctx := context.Background()
	if err := r.Handle(ctx, in, 3); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(ctx, in, 4); err != nil {
		t.Fatal(err)
	}
	if len(bus.queue) != 2 || bus.queue[1].GetEpoch() != 4 || string(bus.queue[0].GetPayload()) != string(bus.queue[1].GetPayload()) {
		t.Fatalf("resend: %d messages", len(bus.queue))
	}
}

func TestRunnerRejectsBadActivations(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	mid := newRunner(t, m, bus, 1, worker.Range{Begin: 2, End: 4})
	ctx := context.Background()
	good, _ := encodeHidden(make([]float32, 64), 1, 64, 1)
	cases := map[string]*tabshardv1.Activation{
		"wrong stage":   {SessionId: "s", Stage: 2, TokenCount: 1, Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{1, 64}, Payload: good},
		"wrong width":   {SessionId: "s", Stage: 1, TokenCount: 1, Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{1, 32}, Payload: good[:64]},
		"short payload": {SessionId: "s", Stage: 1, TokenCount: 1, Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{1, 64}, Payload: good[:100]},
		"bad dtype":     {SessionId: "s", Stage: 1, TokenCount: 1, Dtype: tabshardv1.DType_D_TYPE_Q4_0, Shape: []uint32{1, 64}, Payload: good},
		"no positions":  {SessionId: "s", Stage: 1, TokenCount: 0},
	}
	for name, a := range cases {
		if err := mid.Handle(ctx, a, 1); !errors.Is(err, ErrBadActivation) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(bus.queue) != 0 {
		t.Fatalf("a bad activation produced output")
	}
	// A gap the log cannot fill is an error, not a guess.
	gap := &tabshardv1.Activation{SessionId: "s3", Stage: 1, FirstPosition: 7, TokenCount: 1, Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{1, 64}, Payload: good}
	if err := mid.Handle(ctx, gap, 1); err == nil || !strings.Contains(err.Error(), "log lacks") {
		t.Fatalf("unfillable gap: %v", err)
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMaxPositions(t *testing.T) {
	for _, c := range []struct {
		limit     int64
		bytes, pp int
	}{{8 << 20, 2 * 8192, 508}, {8 << 20, 4 * 8192, 254}, {8 << 20, 4 * 64, 32512}, {64 << 10, 256, 192}, {4096, 256, 12}, {0, 256, 0}, {70 << 10, 4 * 8192, 1}} {
		if got := maxPositions(c.limit, c.bytes); got != c.pp {
			t.Errorf("maxPositions(%d, %d) = %d, want %d", c.limit, c.bytes, got, c.pp)
		}
	}
	r := newRunner(t, stories(t), &memBus{}, 0, worker.Range{Begin: 0, End: 1, First: true})
	if r.PositionBytes() != 4*64 {
		t.Errorf("default wire: %d bytes a position, want f32's", r.PositionBytes())
	}
	r.Wire = kernels.F16
	if r.PositionBytes() != 2*64 {
		t.Errorf("f16 wire: %d bytes a position", r.PositionBytes())
	}
}

// TestRunnerNeverEvicts: a runner holding MaxSessions sessions refuses a
// new one with ErrFull, keeps the ones it holds, and takes the new one once
// an ended session is freed.
func TestRunnerNeverEvicts(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	r := newRunner(t, m, bus, 0, worker.Range{Begin: 0, End: 5, First: true, Last: true})
	r.MaxSessions = 2
	ctx := context.Background()
	step := func(id string) error {
		return r.Handle(ctx, &tabshardv1.Activation{SessionId: id, Epoch: 1, TokenCount: 1, Tokens: []uint32{1}}, 1)
	}
	for _, id := range []string{"a", "b"} {
		if err := step(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := step("c"); !errors.Is(err, ErrFull) {
		t.Fatalf("third session: %v, want ErrFull", err)
	}
	if r.Sessions() != 2 {
		t.Fatalf("holds %d sessions, want 2", r.Sessions())
	}
	if n := r.Free([]string{"a", "zz"}); n != 1 {
		t.Fatalf("freed %d, want 1", n)
	}
	if err := step("c"); err != nil {
		t.Fatalf("after freeing one: %v", err)
	}
}

// releasingStage is a CPU stage whose KV caches and own memory say when
// they are freed, as a WebGPU stage's GPU buffers must be.
type releasingStage struct {
	Compute
	released map[*releasingKV]bool
	closed   bool
}

type releasingKV struct {
	KV
	s *releasingStage
}

func (k *releasingKV) Release() { k.s.released[k] = true }

func (s *releasingStage) NewKV(o worker.Options) (KV, error) {
	kv, err := s.Compute.NewKV(o)
	if err != nil {
		return nil, err
	}
	return &releasingKV{KV: kv, s: s}, nil
}

func (s *releasingStage) Forward(kv KV, x []float32, pos, n int) error {
	return s.Compute.Forward(kv.(*releasingKV).KV, x, pos, n)
}

func (s *releasingStage) Close() { s.closed = true }

// TestRunnerReleasesCaches: an ended session's KV cache is released when
// it is freed, and closing the runner releases the rest and the stage.
func TestRunnerReleasesCaches(t *testing.T) {
	r := newRunner(t, stories(t), &memBus{}, 0, worker.Range{Begin: 0, End: 5, First: true, Last: true})
	st := &releasingStage{Compute: r.Stage, released: map[*releasingKV]bool{}}
	r.Stage = st
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := r.Handle(ctx, &tabshardv1.Activation{SessionId: id, Epoch: 1, TokenCount: 1, Tokens: []uint32{1}}, 1); err != nil {
			t.Fatal(err)
		}
	}
	kvOf := func(id string) *releasingKV { return r.sessions[id].kv.(*releasingKV) }
	a, b, c := kvOf("a"), kvOf("b"), kvOf("c")
	if n := r.Free([]string{"a"}); n != 1 || !st.released[a] || st.released[b] {
		t.Fatalf("freeing a: %d freed, released %v", n, st.released)
	}
	r.Forget("b")
	if !st.released[b] || st.released[c] || st.closed {
		t.Fatalf("forgetting b: released %v, stage closed %v", st.released, st.closed)
	}
	r.Close()
	if !st.released[c] || !st.closed || r.Sessions() != 0 {
		t.Fatalf("closing: released %v, stage closed %v, %d sessions held", st.released, st.closed, r.Sessions())
	}
}

// TestSequenceOptionsFollowThePlan: each session's cache takes the plan's
// context, KV type and window; a plan without a KV type means F32.
func TestSequenceOptionsFollowThePlan(t *testing.T) {
	for _, c := range []struct {
		name string
		plan *tabshardv1.Plan
		want worker.Options
	}{
		{"empty plan", &tabshardv1.Plan{}, worker.Options{Positions: 1}},
		{"no KV type", &tabshardv1.Plan{ContextLength: 512}, worker.Options{Positions: 512}},
		{"f16", &tabshardv1.Plan{ContextLength: 256, KvType: tabshardv1.DType_D_TYPE_F16},
			worker.Options{Positions: 256, KV: worker.KVOptions{Type: kernels.F16}}},
		{"q8_0 and a window", &tabshardv1.Plan{ContextLength: 4096, KvType: tabshardv1.DType_D_TYPE_Q8_0, SlidingWindow: 1024},
			worker.Options{Positions: 4096, KV: worker.KVOptions{Type: kernels.Q8_0, Window: 1024}}},
	} {
		if got := sequenceOptions(c.plan); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestRunnerStoresThePlansKVType: a runner given an F16 plan's options
// keeps its sessions' caches in F16, the type the plan budgeted.
func TestRunnerStoresThePlansKVType(t *testing.T) {
	r := newRunner(t, stories(t), &memBus{}, 0, worker.Range{Begin: 0, End: 5, First: true, Last: true})
	r.Options = sequenceOptions(&tabshardv1.Plan{ContextLength: 512, KvType: tabshardv1.DType_D_TYPE_F16})
	if err := r.Handle(context.Background(), &tabshardv1.Activation{SessionId: "s", Epoch: 1, TokenCount: 1, Tokens: []uint32{1}}, 1); err != nil {
		t.Fatal(err)
	}
	kv, ok := r.sessions["s"].kv.(*worker.KVCache)
	if !ok {
		t.Fatalf("cache %T", r.sessions["s"].kv)
	}
	if kv.Type() != kernels.F16 {
		t.Fatalf("cache type %s, want F16", kv.Type())
	}
}

// TestRunnerSendsThePlansActivationType: a runner of an F16 plan sends a
// prompt's pieces (and every step) as F16, half the bytes of F32, which
// the next stage decodes; a plan that names none sends F32.
func TestRunnerSendsThePlansActivationType(t *testing.T) {
	for _, c := range []struct {
		plan tabshardv1.DType
		want tabshardv1.DType
	}{
		{tabshardv1.DType_D_TYPE_F16, tabshardv1.DType_D_TYPE_F16},
		{tabshardv1.DType_D_TYPE_UNSPECIFIED, tabshardv1.DType_D_TYPE_F32},
	} {
		bus := &memBus{}
		r := newRunner(t, stories(t), bus, 0, worker.Range{Begin: 0, End: 2, First: true})
		r.Wire = planWire(&tabshardv1.Plan{ActivationType: c.plan})
		r.PrefillChunk = 4
		toks := []uint32{1, 2, 3, 4, 5, 6}
		if err := r.Handle(context.Background(), &tabshardv1.Activation{SessionId: "s", Epoch: 1, TokenCount: uint32(len(toks)), Tokens: toks}, 1); err != nil {
			t.Fatal(err)
		}
		outs := bus.queue
		if len(outs) != 2 {
			t.Fatalf("plan %s: %d activations for 6 positions in pieces of 4", c.plan, len(outs))
		}
		for _, a := range outs {
			if a.GetDtype() != c.want {
				t.Errorf("plan %s: a piece sent as %s", c.plan, a.GetDtype())
			}
			per := 4 * 64
			if c.want == tabshardv1.DType_D_TYPE_F16 {
				per = 2 * 64
			}
			if len(a.GetPayload()) != int(a.GetTokenCount())*per {
				t.Errorf("plan %s: %d payload bytes for %d positions", c.plan, len(a.GetPayload()), a.GetTokenCount())
			}
			if _, err := decodeHidden(a, 64); err != nil {
				t.Errorf("plan %s: the next stage cannot read a piece: %v", c.plan, err)
			}
		}
	}
}

// hidingWrapper wraps a stage as a page's metering does: its embedding
// hides every optional interface of the stage; only Unwrap leads to them.
type hidingWrapper struct{ Compute }

func (w hidingWrapper) Unwrap() Compute { return w.Compute }

// claimingWrapper says it batches whatever it wraps.
type claimingWrapper struct{ hidingWrapper }

func (claimingWrapper) ForwardBatch([]Step, []float32) error { return errors.New("not a batcher") }

// TestAsLooksThroughWrappers: a wrapped stage keeps its abilities (a
// wrapper once hid the WebGPU stage's batches and greedy picks from every
// tab), and a wrapper cannot claim one its stage lacks.
func TestAsLooksThroughWrappers(t *testing.T) {
	cpu, err := CPU(context.Background(), stories(t), worker.Range{Begin: 0, End: 5, First: true, Last: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := hidingWrapper{hidingWrapper{cpu}}
	if _, ok := Compute(wrapped).(Batcher); ok {
		t.Fatal("the wrapper itself is a Batcher: the test shows nothing")
	}
	if _, ok := As[Batcher](wrapped); !ok {
		t.Error("a wrapped CPU stage is no Batcher")
	}
	if _, ok := As[Greedy](wrapped); ok {
		t.Error("a wrapped CPU stage claims Greedy")
	}
	if g, ok := As[Greedy](hidingWrapper{&greedyStage{Compute: cpu}}); !ok || g == nil {
		t.Error("a wrapped greedy stage is not Greedy")
	}
	if _, ok := As[Batcher](claimingWrapper{hidingWrapper{&greedyStage{Compute: cpu}}}); ok {
		t.Error("a wrapper's ForwardBatch over a stage that runs no batches counts")
	}
	if b, ok := As[Batcher](claimingWrapper{hidingWrapper{cpu}}); !ok || b.ForwardBatch(nil, nil) == nil {
		t.Error("the wrapper's own ForwardBatch (which meters) is not the one used")
	}
}

// TestWrappedLastStageUsesGreedy: behind a wrapper, the last stage still
// asks its stage for greedy tokens, and the text is the oracle's.
func TestWrappedLastStageUsesGreedy(t *testing.T) {
	m := stories(t)
	bus := &memBus{}
	runners := pipeline(t, m, bus)
	g := &greedyStage{Compute: runners[2].Stage}
	runners[2].Stage = hidingWrapper{g}
	prompt, steps := []uint32{1, 403, 407, 261, 378}, 64
	got := drive(t, bus, runners, prompt, steps, &tabshardv1.Sampling{}, nil)
	if want := oracleIDs(t, "once_upon_a_time_t0_n64.ids.txt"); !equal(got, want) {
		t.Fatalf("%v\nrun.c %v", got, want)
	}
	if want := steps - len(prompt) + 1; g.calls != want {
		t.Fatalf("%d calls to Greedy for %d tokens", g.calls, want)
	}
}
