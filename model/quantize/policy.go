// Package quantize decides which tensor type each tensor of a model gets
// (a Policy) and rewrites GGUF files into those types.
package quantize

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

// ErrPolicy is an unknown policy or an override naming an unknown type.
var ErrPolicy = errors.New("bad quantization policy")

// Role is what a tensor does in the model, read from its GGUF name.
type Role int

// Tensor roles. RoleOther is the zero value.
const (
	RoleOther Role = iota
	RoleEmbedding
	RoleAttnQKV
	RoleAttnOutput
	RoleFeedForward
	RoleNorm
	RoleOutput
)

// RoleOf classifies a GGUF tensor name ("blk.3.attn_q.weight").
func RoleOf(name string, dims int) Role {
	base := name
	if i := strings.LastIndex(name, "."); i > 0 {
		base = name[:i] // drop ".weight" / ".bias"
	}
	if j := strings.LastIndex(base, "."); j >= 0 {
		base = base[j+1:]
	}
	switch {
	case dims < 2 || strings.HasSuffix(base, "_norm") || strings.HasSuffix(name, ".bias"):
		return RoleNorm
	case base == "token_embd":
		return RoleEmbedding
	case base == "output":
		return RoleOutput
	case base == "attn_q" || base == "attn_k" || base == "attn_v" || base == "attn_qkv":
		return RoleAttnQKV
	case base == "attn_output":
		return RoleAttnOutput
	case strings.HasPrefix(base, "ffn_"):
		return RoleFeedForward
	}
	return RoleOther
}

// Policy maps each tensor to a type.
type Policy struct {
	Name      string
	byRole    map[Role]kernels.DType
	overrides []override
	// FileType is llama.cpp's general.file_type for the policy.
	FileType uint32
}

type override struct {
	pattern string
	typ     kernels.DType
}

// llama.cpp's llama_ftype values for general.file_type.
const (
	fileTypeF32  = 0
	fileTypeF16  = 1
	fileTypeQ4_0 = 2
	fileTypeQ8_0 = 7
	fileTypeQ2_K = 10
	fileTypeQ3KM = 12
	fileTypeQ4KM = 15
)

func uniform(name string, t kernels.DType, ft uint32) *Policy {
	p := &Policy{Name: name, FileType: ft, byRole: map[Role]kernels.DType{}}
	for _, r := range []Role{RoleOther, RoleEmbedding, RoleAttnQKV, RoleAttnOutput, RoleFeedForward, RoleOutput} {
		p.byRole[r] = t
	}
	p.byRole[RoleNorm] = kernels.F32
	return p
}

// Names lists the policies Parse accepts.
func Names() []string { return []string{"f32", "f16", "q8_0", "q4_0", "q4_k", "q3_k", "q2_k", "mixed"} }

// Parse returns the named policy: a uniform type for every matrix (norms
// and biases stay F32), or "mixed": embeddings, attention Q/K/V and the
// output head 8-bit, attention output and feed-forward 4-bit.
func Parse(name string) (*Policy, error) {
	switch strings.ToLower(name) {
	case "f32":
		return uniform("f32", kernels.F32, fileTypeF32), nil
	case "f16":
		return uniform("f16", kernels.F16, fileTypeF16), nil
	case "q8_0":
		return uniform("q8_0", kernels.Q8_0, fileTypeQ8_0), nil
	case "q4_0":
		return uniform("q4_0", kernels.Q4_0, fileTypeQ4_0), nil
	case "q4_k":
		return uniform("q4_k", kernels.Q4_K, fileTypeQ4KM), nil
	case "q3_k":
		return uniform("q3_k", kernels.Q3_K, fileTypeQ3KM), nil
	case "q2_k":
		return uniform("q2_k", kernels.Q2_K, fileTypeQ2_K), nil
	case "mixed":
		p := uniform("mixed", kernels.Q4_K, fileTypeQ4KM)
		p.byRole[RoleEmbedding] = kernels.Q8_0
		p.byRole[RoleAttnQKV] = kernels.Q8_0
		p.byRole[RoleOutput] = kernels.Q8_0
		return p, nil
	}
	return nil, fmt.Errorf("%w: unknown policy %q (want one of %s)", ErrPolicy, name, strings.Join(Names(), ", "))
}

// Override makes tensors whose names match pattern (path.Match syntax,
// e.g. "blk.*.ffn_down.weight") take the type named typ. Later overrides
// win.
func (p *Policy) Override(pattern, typ string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("%w: pattern %q: %v", ErrPolicy, pattern, err)
	}
	t, err := kernels.ParseDType(typ)
	if err != nil {
		return fmt.Errorf("%w: --tensor-type %s=%s: %w", ErrPolicy, pattern, typ, err)
	}
	if _, err := t.Codec(); err != nil {
		return fmt.Errorf("%w: --tensor-type %s=%s: %w", ErrPolicy, pattern, typ, err)
	}
	p.overrides = append(p.overrides, override{pattern, t})
	return nil
}

// Choice is the type a tensor gets, and the reason when it is not the one
// the policy asked for.
type Choice struct {
	Type      kernels.DType
	Requested kernels.DType
	Note      string
}

// TypeFor returns the type of tensor name with dims (ggml order: dims[0]
// is the row length). A row length that is not a whole number of the
// requested type's blocks falls back to the nearest type with at least as
// many bits per weight whose blocks fit.
func (p *Policy) TypeFor(name string, dims []uint64) Choice {
	want := p.byRole[RoleOf(name, len(dims))]
	for _, o := range slices.Backward(p.overrides) {
		if ok, _ := path.Match(o.pattern, name); ok {
			want = o.typ
			break
		}
	}
	c := Choice{Type: want, Requested: want}
	if len(dims) == 0 || fits(want, dims[0]) {
		return c
	}
	c.Type = Fallback(want, dims[0])
	c.Note = fmt.Sprintf("%s: rows of %d are not whole %s blocks; using %s", name, dims[0], want, c.Type)
	return c
}

func fits(t kernels.DType, cols uint64) bool {
	_, err := t.RowBytes(int64(cols))
	return err == nil
}

// ladder orders the types a fallback may take by bits per weight.
var ladder = []kernels.DType{
	kernels.Q2_K, kernels.Q3_K, kernels.Q4_K, kernels.Q4_0, kernels.IQ4_XS, kernels.IQ4_NL, kernels.Q4_1,
	kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q6_K, kernels.Q8_0, kernels.F16, kernels.BF16, kernels.F32,
}

// BitsPerWeight is the storage cost of t per element.
func BitsPerWeight(t kernels.DType) float64 {
	l, err := t.Layout()
	if err != nil {
		return 0
	}
	return float64(l.BlockBytes*8) / float64(l.BlockElems)
}

// Fallback is the type with the fewest bits per weight, at least as many
// as want's, whose blocks divide cols. F32 always fits.
func Fallback(want kernels.DType, cols uint64) kernels.DType {
	min := BitsPerWeight(want)
	for _, t := range ladder {
		if BitsPerWeight(t) >= min && fits(t, cols) {
			return t
		}
	}
	return kernels.F32
}
