package planner

import (
	"fmt"
	"slices"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
)

// Tensor is one tensor of the model to plan: its name as GGUF names it,
// its type and its dims in ggml order (Dims[0] is the row length).
type Tensor struct {
	Name string
	Type kernels.DType
	Dims []uint64
}

// Model is what the planner needs of a model: its configuration and
// its tensors with their types.
type Model struct {
	// Name labels the plan, e.g. "llama-3-70b:q4_k".
	Name    string
	Config  *model.Config
	Tensors []Tensor
	// Notes are carried into the plan (e.g. quantization fallbacks).
	Notes []string
}

// FromPreset is the model a preset describes with the types pol gives.
func FromPreset(p *preset.Preset, pol *quantize.Policy) *Model {
	typed, notes := p.Typed(pol)
	ts := make([]Tensor, len(typed))
	for i, t := range typed {
		ts[i] = Tensor{Name: t.Name, Type: t.Type, Dims: t.Dims}
	}
	return &Model{Name: p.Name + ":" + pol.Name, Config: p.Config(), Tensors: ts, Notes: notes}
}

// FromFile is the model of an opened GGUF file. With a policy, tensors
// take the types the policy would give them (planning a quantization
// before running it); with nil they keep the file's.
func FromFile(name string, m *model.Model, pol *quantize.Policy) *Model {
	out := &Model{Name: name, Config: m.Config}
	for _, t := range m.File.Tensors {
		typ := t.Type
		if pol != nil {
			c := pol.TypeFor(t.Name, t.Dims)
			typ = c.Type
			if c.Note != "" {
				out.Notes = addNote(out.Notes, fmt.Sprintf("%s: rows of %d are not whole %s blocks; using %s", blockPattern(t.Name), t.Dims[0], c.Requested, c.Type))
			}
		}
		out.Tensors = append(out.Tensors, Tensor{Name: t.Name, Type: typ, Dims: t.Dims})
	}
	if pol != nil {
		out.Name += ":" + pol.Name
	}
	return out
}

// addNote appends n unless notes has it.
func addNote(notes []string, n string) []string {
	if slices.Contains(notes, n) {
		return notes
	}
	return append(notes, n)
}
