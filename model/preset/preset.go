// Package preset describes published Llama-family model shapes exactly —
// the ordered tensor list with ggml dims, the architecture's GGUF metadata
// and the model.Config a reader would get — so that tools can plan for,
// or write synthetic files of, a model without its weights. Tensor types
// are not part of a preset: a quantize.Policy gives them.
package preset

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/quantize"
)

// ErrUnknown is a preset name that is not in the table.
var ErrUnknown = errors.New("unknown model preset")

// DefaultPolicy is the policy a preset name without ":POLICY" takes.
const DefaultPolicy = "q4_k"

// Preset is the shape of a published model.
type Preset struct {
	// Name is the short name tools accept, e.g. "llama-3-70b".
	Name string
	// Title is written as general.name, e.g. "Meta-Llama-3-70B".
	Title   string
	Arch    model.Arch
	Layers  int
	Dim     int
	FFNDim  int
	Heads   int
	KVHeads int
	// HeadDim is 0 when it is Dim/Heads.
	HeadDim       int
	Vocab         int
	Context       int
	RopeBase      float64
	NormEps       float32
	SlidingWindow int
	// QKVBias adds attn_q/k/v.bias tensors (qwen2).
	QKVBias bool
	// TiedOutput means there is no output.weight: the head reuses token_embd.
	TiedOutput bool
}

// Tensor is one tensor of a preset, in file order.
type Tensor struct {
	Name string
	// Dims are in ggml order: Dims[0] is the row length.
	Dims []uint64
	Role quantize.Role
}

// KV is one GGUF metadata entry.
type KV struct {
	Key   string
	Value gguf.Value
}

// Names lists the presets, largest-known first within each family.
func Names() []string {
	names := make([]string, len(table))
	for i, p := range table {
		names[i] = p.Name
	}
	return names
}

// Lookup returns a copy of the preset called name (case-insensitive).
func Lookup(name string) (*Preset, error) {
	for _, p := range table {
		if strings.EqualFold(p.Name, name) {
			c := p
			return &c, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Parse reads "NAME" or "NAME:POLICY" (e.g. "llama-3-70b:q4_k"); a missing
// policy is DefaultPolicy.
func Parse(spec string) (*Preset, *quantize.Policy, error) {
	name, policy, ok := strings.Cut(spec, ":")
	if !ok {
		policy = DefaultPolicy
	}
	p, err := Lookup(name)
	if err != nil {
		return nil, nil, err
	}
	pol, err := quantize.Parse(policy)
	if err != nil {
		return nil, nil, err
	}
	return p, pol, nil
}

// headDim is the width of one attention head.
func (p *Preset) headDim() int {
	if p.HeadDim > 0 {
		return p.HeadDim
	}
	return p.Dim / p.Heads
}

// Config is the configuration model.ConfigFromGGUF reads from a file with
// the preset's Metadata.
func (p *Preset) Config() *model.Config {
	hd := p.headDim()
	c := &model.Config{
		Arch: p.Arch, Name: p.Title, Layers: p.Layers, Dim: p.Dim, FFNDim: p.FFNDim,
		Heads: p.Heads, KVHeads: p.KVHeads, HeadDim: hd, RopeDim: hd, Vocab: p.Vocab,
		ContextLength: p.Context, NormEps: p.NormEps, RopeBase: p.RopeBase,
		RopeStyle: model.RopeNormal, SlidingWindow: p.SlidingWindow, QKVBias: p.QKVBias,
	}
	if p.Arch == model.ArchQwen2 {
		c.RopeStyle = model.RopeNeoX
	}
	return c
}

// Metadata is the architecture's GGUF metadata, in the order llama.cpp
// writes it. A writer adds general.file_type (the policy's FileType) and
// the tokenizer.
func (p *Preset) Metadata() []KV {
	a := p.Arch.String()
	u := func(v int) gguf.Value { return gguf.Uint32(uint32(v)) }
	kv := []KV{
		{"general.architecture", gguf.String(a)},
		{"general.name", gguf.String(p.Title)},
		{a + ".vocab_size", u(p.Vocab)},
		{a + ".context_length", u(p.Context)},
		{a + ".embedding_length", u(p.Dim)},
		{a + ".block_count", u(p.Layers)},
		{a + ".feed_forward_length", u(p.FFNDim)},
		{a + ".rope.dimension_count", u(p.headDim())},
		{a + ".rope.freq_base", gguf.Float32(float32(p.RopeBase))},
		{a + ".attention.head_count", u(p.Heads)},
		{a + ".attention.head_count_kv", u(p.KVHeads)},
		{a + ".attention.layer_norm_rms_epsilon", gguf.Float32(p.NormEps)},
	}
	if p.HeadDim > 0 && p.HeadDim != p.Dim/p.Heads {
		kv = append(kv, KV{a + ".attention.key_length", u(p.HeadDim)}, KV{a + ".attention.value_length", u(p.HeadDim)})
	}
	if p.SlidingWindow > 0 {
		kv = append(kv, KV{a + ".attention.sliding_window", u(p.SlidingWindow)})
	}
	return kv
}

// Tensors lists every tensor in file order: token_embd, each block's
// tensors, output_norm and (unless tied) output.
func (p *Preset) Tensors() []Tensor {
	d, f := uint64(p.Dim), uint64(p.FFNDim)
	q := uint64(p.Heads * p.headDim())
	kv := uint64(p.KVHeads * p.headDim())
	v := uint64(p.Vocab)
	out := make([]Tensor, 0, 3+p.Layers*12)
	add := func(name string, dims ...uint64) {
		out = append(out, Tensor{Name: name, Dims: dims, Role: quantize.RoleOf(name, len(dims))})
	}
	add("token_embd.weight", d, v)
	for i := range p.Layers {
		b := func(n string) string { return model.BlockTensor(i, n) }
		add(b("attn_norm.weight"), d)
		add(b("attn_q.weight"), d, q)
		add(b("attn_k.weight"), d, kv)
		add(b("attn_v.weight"), d, kv)
		if p.QKVBias {
			add(b("attn_q.bias"), q)
			add(b("attn_k.bias"), kv)
			add(b("attn_v.bias"), kv)
		}
		add(b("attn_output.weight"), q, d)
		add(b("ffn_norm.weight"), d)
		add(b("ffn_gate.weight"), d, f)
		add(b("ffn_up.weight"), d, f)
		add(b("ffn_down.weight"), f, d)
	}
	add("output_norm.weight", d)
	if !p.TiedOutput {
		add("output.weight", d, v)
	}
	return out
}

// TypedTensor is a tensor with the type a policy gives it.
type TypedTensor struct {
	Tensor
	Type kernels.DType
}

// Typed gives every tensor its type under pol. Notes say where a row
// length forced a fallback, one note per tensor kind ("blk.*.ffn_down").
func (p *Preset) Typed(pol *quantize.Policy) ([]TypedTensor, []string) {
	ts := p.Tensors()
	out := make([]TypedTensor, len(ts))
	var notes []string
	for i, t := range ts {
		c := pol.TypeFor(t.Name, t.Dims)
		out[i] = TypedTensor{Tensor: t, Type: c.Type}
		if c.Note != "" {
			notes = appendNote(notes, t, c)
		}
	}
	return out, notes
}

// appendNote adds a fallback note once per tensor kind, naming blocks
// "blk.*" so that an 80-block model yields one note, not 80.
func appendNote(notes []string, t Tensor, c quantize.Choice) []string {
	name := t.Name
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if _, kind, ok := strings.Cut(rest, "."); ok {
			name = "blk.*." + kind
		}
	}
	n := fmt.Sprintf("%s: rows of %d are not whole %s blocks; using %s", name, t.Dims[0], c.Requested, c.Type)
	if slices.Contains(notes, n) {
		return notes
	}
	return append(notes, n)
}
