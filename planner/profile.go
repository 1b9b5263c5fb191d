package planner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
)

// windowSlack is how many positions beyond its sliding window a KV cache
// holds: worker.NewKVCache keeps Window+63 so that a batch of up to 64
// positions never overwrites entries it still attends to.
const windowSlack = 63

// buffer is one device buffer made of whole rows.
type buffer struct {
	name     string
	rows     int64
	rowBytes int64
}

func (b buffer) bytes() int64 { return b.rows * b.rowBytes }

// profile is a model's cost, block by block, under a set of options: what
// each block and each extra (embedding, head, activations) holds and reads.
type profile struct {
	name    string
	cfg     *model.Config
	blocks  int
	context int
	// window is the effective sliding window, 0 for none.
	window  int
	opts    Options
	block   [][]buffer // weight tensors of each block
	kv      []buffer   // one block's K and V cache buffers
	embed   []buffer   // token_embd
	head    []buffer   // output_norm and output, or token_embd when tied
	tied    bool
	shared  []buffer // tensors outside blocks that every stage needs
	acts    []buffer // activation buffers of every stage
	logits  []buffer // the last stage's extra activation buffer
	weight  []int64  // prefix sums of block weight bytes
	read    []int64  // prefix sums of block bytes read per token
	kvBlock int64    // K+V bytes of one block
	// embedRow is what the first stage reads per token of the embedding.
	embedRow int64
	// msgBytes is an activation message: a token's hidden state in the
	// activation type.
	msgBytes int64
}

// newProfile classifies m's tensors and sizes everything for o.
func newProfile(m *Model, o Options) (*profile, error) {
	if m == nil || m.Config == nil {
		return nil, fmt.Errorf("%w: no model configuration", ErrModel)
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	c := m.Config
	p := &profile{name: m.Name, cfg: c, blocks: c.Layers, opts: o, block: make([][]buffer, c.Layers)}
	if err := p.setContext(o); err != nil {
		return nil, err
	}
	if err := p.classify(m.Tensors); err != nil {
		return nil, err
	}
	if err := p.sizeKV(); err != nil {
		return nil, err
	}
	p.sizeActivations()
	p.prefixes()
	return p, nil
}

// setContext resolves the context and window the KV cache is sized for.
func (p *profile) setContext(o Options) error {
	c := p.cfg
	p.context = o.Context
	if p.context == 0 {
		p.context = min(c.ContextLength, DefaultContext)
	}
	if p.context > c.ContextLength {
		return fmt.Errorf("%w: context %d is longer than the model's %d positions", ErrOptions, p.context, c.ContextLength)
	}
	p.window = c.SlidingWindow
	if o.SlidingWindow > 0 {
		p.window = o.SlidingWindow
	}
	return nil
}

// slots is how many positions a block's KV cache holds.
func (p *profile) slots() int64 {
	if p.window > 0 {
		return int64(min(p.context, p.window+windowSlack))
	}
	return int64(p.context)
}

// attended is how many positions a token attends to at full context.
func (p *profile) attended() int64 {
	if p.window > 0 {
		return int64(min(p.context, p.window))
	}
	return int64(p.context)
}

// classify sorts tensors into blocks, embedding, head and shared.
func (p *profile) classify(ts []Tensor) error {
	hasOutput := false
	for _, t := range ts {
		b, err := tensorBuffer(t)
		if err != nil {
			return err
		}
		switch kind, blk, err := tensorKind(t.Name, p.blocks); {
		case err != nil:
			return err
		case kind == kindBlock:
			p.block[blk] = append(p.block[blk], b)
		case kind == kindEmbed:
			p.embed = append(p.embed, b)
			p.embedRow += b.rowBytes
		case kind == kindHead:
			p.head = append(p.head, b)
			hasOutput = hasOutput || t.Name == "output.weight"
		default:
			p.shared = append(p.shared, b)
		}
	}
	if len(p.embed) == 0 {
		return fmt.Errorf("%w: no token_embd tensor", ErrModel)
	}
	for i, b := range p.block {
		if len(b) == 0 {
			return fmt.Errorf("%w: block %d has no tensors", ErrModel, i)
		}
	}
	if !hasOutput {
		p.tied = true
		p.head = append(p.head, p.embed...)
	}
	return nil
}

type tensorClass int

const (
	kindShared tensorClass = iota
	kindBlock
	kindEmbed
	kindHead
)

// tensorKind says where a tensor goes; for a block tensor, which block.
func tensorKind(name string, blocks int) (tensorClass, int, error) {
	switch {
	case strings.HasPrefix(name, "token_embd."):
		return kindEmbed, 0, nil
	case strings.HasPrefix(name, "output.") || strings.HasPrefix(name, "output_norm."):
		return kindHead, 0, nil
	case strings.HasPrefix(name, "blk."):
		num, _, _ := strings.Cut(strings.TrimPrefix(name, "blk."), ".")
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= blocks {
			return 0, 0, fmt.Errorf("%w: tensor %s is outside blocks 0..%d", ErrModel, name, blocks-1)
		}
		return kindBlock, i, nil
	}
	return kindShared, 0, nil
}

// tensorBuffer sizes a tensor from its type's block layout.
func tensorBuffer(t Tensor) (buffer, error) {
	if len(t.Dims) == 0 {
		return buffer{}, fmt.Errorf("%w: tensor %s has no dims", ErrModel, t.Name)
	}
	rows := int64(1)
	for _, d := range t.Dims[1:] {
		if d == 0 || d > 1<<40 {
			return buffer{}, fmt.Errorf("%w: tensor %s has dims %v", ErrModel, t.Name, t.Dims)
		}
		rows *= int64(d)
	}
	if t.Dims[0] == 0 || t.Dims[0] > 1<<40 || rows > 1<<40 {
		return buffer{}, fmt.Errorf("%w: tensor %s has dims %v", ErrModel, t.Name, t.Dims)
	}
	rb, err := t.Type.RowBytes(int64(t.Dims[0]))
	if err != nil {
		return buffer{}, fmt.Errorf("%w: tensor %s: %w", ErrModel, t.Name, err)
	}
	return buffer{name: t.Name, rows: rows, rowBytes: rb}, nil
}

// sizeKV sizes one block's K and V cache buffers.
func (p *profile) sizeKV() error {
	perToken, err := worker.KVBytesPerToken(p.cfg, 1, p.opts.KVType)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	row := perToken / 2
	p.kv = []buffer{{"blk.*.cache_k", p.slots(), row}, {"blk.*.cache_v", p.slots(), row}}
	p.kvBlock = p.sessions() * 2 * p.slots() * row
	return nil
}

// sessions is how many sessions' caches a block holds: each its own K and
// V buffers of p.kv.
func (p *profile) sessions() int64 { return int64(max(p.opts.Sessions, 1)) }

// sizeActivations lists the f32 working buffers of a prefill batch.
func (p *profile) sizeActivations() {
	c, b := p.cfg, int64(p.opts.Batch)
	f32 := func(n int) int64 { return 4 * int64(n) }
	p.acts = []buffer{
		{"act.hidden", b, f32(c.Dim)},
		{"act.normed", b, f32(c.Dim)},
		{"act.q", b, f32(c.QDim())},
		{"act.k", b, f32(c.KVDim())},
		{"act.v", b, f32(c.KVDim())},
		{"act.attention", b, f32(c.QDim())},
		{"act.ffn_gate", b, f32(c.FFNDim)},
		{"act.ffn_up", b, f32(c.FFNDim)},
		{"act.attention_parts", p.prefillPartRows() * int64(c.Heads), p.partBytes()},
		{"act.decode_parts", p.sessions() * int64(min(DecodeSplitRows, p.opts.Batch)) * int64(c.Heads), p.partBytes()},
		{"act.received", b, p.msgRow()},
	}
	p.logits = []buffer{{"act.logits", b, f32(c.Vocab)}} // a WebGPU stage's head runs a batch at once
	p.msgBytes = p.msgRow()
}

// msgRow is one position's hidden state in the activation type.
func (p *profile) msgRow() int64 {
	if p.opts.ActivationType == kernels.F16 {
		return 2 * int64(p.cfg.Dim)
	}
	return 4 * int64(p.cfg.Dim)
}

// MaxPrefillPartBytes caps a WebGPU stage's buffer of a prefill's split
// attention partials (the gpu package's default): prefill's attention
// runs in passes of as many positions as it holds.
const MaxPrefillPartBytes = 64 << 20

// DecodeSplitRows is how many positions a session's split attention
// partials hold for decoding (batches below the GPU stage's MatMulMin,
// 4, take split attention with them).
const DecodeSplitRows = 3

// partBytes is what split attention's partials take per (position,
// head): a run of 64 keys' maximum, sum and head-sized output for every
// run the cache's slots make.
func (p *profile) partBytes() int64 {
	runs := (p.slots() + 63) / 64
	return 4 * runs * int64(p.cfg.HeadDim+2)
}

// prefillPartRows is how many positions a pass of prefill's split
// attention takes: the batch, at most what MaxPrefillPartBytes holds,
// at least one.
func (p *profile) prefillPartRows() int64 {
	perPos := int64(p.cfg.Heads) * p.partBytes()
	return max(1, min(int64(p.opts.Batch), MaxPrefillPartBytes/perPos))
}

// prefixes sums block weights and per-token reads for O(1) range costs.
func (p *profile) prefixes() {
	kvRead := 2 * p.attended() * p.kv[0].rowBytes
	p.weight = make([]int64, p.blocks+1)
	p.read = make([]int64, p.blocks+1)
	for i, bufs := range p.block {
		w := sumBytes(bufs)
		p.weight[i+1] = p.weight[i] + w
		p.read[i+1] = p.read[i] + w + kvRead
	}
}

func sumBytes(bs []buffer) int64 {
	var n int64
	for _, b := range bs {
		n += b.bytes()
	}
	return n
}

// totalWeights is every tensor's bytes, token_embd once when tied.
func (p *profile) totalWeights() int64 {
	n := p.weight[p.blocks] + sumBytes(p.embed) + sumBytes(p.shared) + sumBytes(p.head)
	if p.tied {
		n -= sumBytes(p.embed)
	}
	return n
}

// headBuffers are the last stage's head tensors, without token_embd when
// the same stage already holds it as the embedding.
func (p *profile) headBuffers(first bool) []buffer {
	if p.tied && first {
		return p.head[:len(p.head)-len(p.embed)]
	}
	return p.head
}

// withSessions is p sized for another number of sessions.
func (p *profile) withSessions(n int) (*profile, error) {
	q := *p
	q.opts.Sessions = n
	if err := q.sizeKV(); err != nil {
		return nil, err
	}
	q.sizeActivations() // each session's decoding partials
	q.prefixes()
	return &q, nil
}

// withContext is p sized for another context.
func (p *profile) withContext(ctx int) (*profile, error) {
	q := *p
	q.opts.Context = ctx
	if err := q.setContext(q.opts); err != nil {
		return nil, err
	}
	if err := q.sizeKV(); err != nil {
		return nil, err
	}
	q.sizeActivations()
	q.prefixes()
	return &q, nil
}
