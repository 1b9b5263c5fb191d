package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
)

// ErrPrompt is a prompt that is empty or does not fit the context.
var ErrPrompt = errors.New("bad prompt")

// Pipeline chains stages that together hold a whole model, in order, in one
// process: each stage's output hidden states are the next one's input.
type Pipeline struct {
	stages    []*Stage
	kvs       []*KVCache
	positions int
	cfg       *model.Config
	hop       *kernels.Codec
	hopBuf    []byte
}

// NewPipeline checks that stages cover the model's blocks contiguously, the
// first holding the embedding and the last the output head, and gives each
// a KV cache for one sequence sized by o.
func NewPipeline(o Options, stages ...*Stage) (*Pipeline, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: no stages", ErrRange)
	}
	cfg := stages[0].Config()
	next := 0
	for i, s := range stages {
		r := s.Range()
		if r.Begin != next || r.First != (i == 0) || r.Last != (i == len(stages)-1) {
			return nil, fmt.Errorf("%w: stage %d holds blocks [%d,%d) first=%v last=%v after block %d", ErrRange, i, r.Begin, r.End, r.First, r.Last, next)
		}
		next = r.End
	}
	if next != cfg.Layers {
		return nil, fmt.Errorf("%w: stages end at block %d of %d", ErrRange, next, cfg.Layers)
	}
	p := &Pipeline{stages: stages, cfg: cfg, positions: o.Positions}
	for _, s := range stages {
		kv, err := s.NewKV(o)
		if err != nil {
			return nil, err
		}
		p.kvs = append(p.kvs, kv)
	}
	return p, nil
}

// Load builds an in-process pipeline of m split at the given block
// boundaries (none: one stage holds the whole model), with room for
// maxPositions positions and an F32 KV cache.
func Load(m *model.Model, maxPositions int, splits ...int) (*Pipeline, error) {
	return LoadWith(m, Options{Positions: maxPositions}, splits...)
}

// LoadWith is Load with explicit stage options.
func LoadWith(m *model.Model, o Options, splits ...int) (*Pipeline, error) {
	bounds := append(append([]int{0}, splits...), m.Config.Layers)
	var stages []*Stage
	for i := 0; i+1 < len(bounds); i++ {
		r := Range{Begin: bounds[i], End: bounds[i+1], First: i == 0, Last: i+2 == len(bounds)}
		s, err := NewStage(m, r)
		if err != nil {
			return nil, err
		}
		stages = append(stages, s)
	}
	return NewPipeline(o, stages...)
}

// EncodeHops makes activations pass between stages encoded as t (F16, as
// on the wire), instead of as exact float32.
func (p *Pipeline) EncodeHops(t kernels.DType) error {
	c, err := t.Codec()
	if err != nil {
		return err
	}
	if _, err := t.RowBytes(int64(p.cfg.Dim)); err != nil {
		return err
	}
	rb, _ := t.RowBytes(int64(p.cfg.Dim))
	p.hop, p.hopBuf = c, make([]byte, rb)
	return nil
}

// roundTrip encodes and decodes x as a hop between stages would.
func (p *Pipeline) roundTrip(x []float32) {
	d := p.cfg.Dim
	for i := 0; i < len(x); i += d {
		row := x[i : i+d]
		p.hop.Quantize(p.hopBuf, row)
		p.hop.Dequantize(row, p.hopBuf)
	}
}

// Config is the model configuration.
func (p *Pipeline) Config() *model.Config { return p.cfg }

// Positions is how many positions the pipeline's KV caches hold.
func (p *Pipeline) Positions() int { return p.positions }

// Run runs tokens at positions pos.. through every stage and returns the
// logits of the last position, or of every position when all is true
// (len(tokens)×Vocab).
func (p *Pipeline) Run(tokens []int, pos int, all bool) ([]float32, error) {
	n := len(tokens)
	x := make([]float32, n*p.cfg.Dim)
	if err := p.stages[0].Embed(x, tokens); err != nil {
		return nil, err
	}
	for i, s := range p.stages {
		if i > 0 && p.hop != nil {
			p.roundTrip(x)
		}
		if err := s.Forward(p.kvs[i], x, pos, n); err != nil {
			return nil, err
		}
	}
	if !all {
		x, n = x[(n-1)*p.cfg.Dim:], 1
	}
	logits := make([]float32, n*p.cfg.Vocab)
	return logits, p.stages[len(p.stages)-1].Logits(logits, x, n)
}

// Event is one position of a generation: Token ran at Pos and Next follows
// it, either forced by the prompt or sampled. Logits are Pos's logits when
// they were computed (always for sampled positions; for forced ones only
// with GenerateConfig.AllLogits).
type Event struct {
	Pos    int
	Token  int
	Next   int
	Forced bool
	Logits []float32
}

// GenerateConfig says what to generate.
type GenerateConfig struct {
	// Prompt is the token ids to start from, BOS first.
	Prompt []int
	// Steps counts forward passes, positions 0..Steps-1, prompt included.
	Steps   int
	Sampler *Sampler
	// BOS ends generation when sampled; -1 for none.
	BOS int
	// AllLogits computes the logits of prompt positions too.
	AllLogits bool
}

// Generate runs llama2.c's generation loop: the prompt in one batch
// (prefill), then one token per step, calling emit for every position.
// It stops after Steps positions, when BOS is sampled, or when emit or ctx
// says so.
func Generate(ctx context.Context, p *Pipeline, g GenerateConfig, emit func(Event) error) error {
	steps := min(g.Steps, p.Positions())
	if len(g.Prompt) == 0 {
		return fmt.Errorf("%w: no tokens", ErrPrompt)
	}
	if len(g.Prompt) > p.Positions() {
		return fmt.Errorf("%w: %d tokens do not fit a context of %d", ErrPrompt, len(g.Prompt), p.Positions())
	}
	prefill := g.Prompt[:min(len(g.Prompt), steps)]
	logits, err := p.Run(prefill, 0, g.AllLogits)
	if err != nil {
		return err
	}
	v := p.cfg.Vocab
	for pos := range prefill[:len(prefill)-1] {
		ev := Event{Pos: pos, Token: prefill[pos], Next: prefill[pos+1], Forced: true}
		if g.AllLogits {
			ev.Logits = logits[pos*v : (pos+1)*v]
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	logits = logits[len(logits)-v:]
	token := prefill[len(prefill)-1]
	for pos := len(prefill) - 1; pos < steps; pos++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev := Event{Pos: pos, Token: token, Logits: logits}
		if pos+1 < len(g.Prompt) {
			ev.Next, ev.Forced = g.Prompt[pos+1], true
		} else {
			ev.Next = g.Sampler.Sample(append([]float32(nil), logits...))
		}
		if ev.Next == g.BOS {
			return nil
		}
		if err := emit(ev); err != nil {
			return err
		}
		if pos+1 >= steps {
			return nil
		}
		if logits, err = p.Run([]int{ev.Next}, pos+1, false); err != nil {
			return err
		}
		token = ev.Next
	}
	return nil
}
