package agent

import (
	"context"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
)

// Compute is a stage's arithmetic on some backend: the CPU (worker.Stage)
// or a GPU through WebGPU (in a browser tab). The runner drives it; it never
// sees the network.
type Compute interface {
	Config() *model.Config
	Range() worker.Range
	// NewKV allocates one sequence's KV cache.
	NewKV(o worker.Options) (KV, error)
	Embed(x []float32, tokens []int) error
	Forward(kv KV, x []float32, pos, n int) error
	Logits(out, x []float32, n int) error
}

// Greedy is a Compute that picks greedy tokens itself, after the final
// norm and output head, so that only the indices leave it (the WebGPU
// backend: not the vocabulary's logits). The last stage uses it at
// temperature 0; it must pick what argmax over Logits would (the lowest
// index on ties).
type Greedy interface {
	Greedy(x []float32, n int) ([]int, error)
}

// EmbedForward is a first stage's Compute that embeds tokens and runs its
// blocks over them in one go, x (len(tokens)×Dim) getting the output bit
// for bit as Embed then Forward give it (the WebGPU backend: a decoding
// step's lookup in the step's own command buffer, no round trip between).
type EmbedForward interface {
	EmbedForward(kv KV, x []float32, tokens []int, pos int) error
}

// Batcher is a Compute that runs several sessions' steps as one batch,
// each row with exactly Forward's arithmetic, so that a session's values
// do not depend on what runs beside it (the CPU backend).
type Batcher interface {
	ForwardBatch(steps []Step, x []float32) error
}

// Step is one session's share of a batch: N hidden states of positions
// [Pos, Pos+N) whose keys and values go to KV.
type Step struct {
	KV     KV
	Pos, N int
}

// Unwrapper is a Compute that wraps another (a page metering its steps):
// the runner looks through it for the optional interfaces (Batcher,
// Greedy, EmbedForward, a Close method) of the Compute it wraps, which a
// wrapper's embedding would otherwise hide.
type Unwrapper interface{ Unwrap() Compute }

// As is c as a T where the innermost Compute under c's wrappers is one:
// c's own method when c has it (a wrapper that delegates, and meters),
// else the innermost Compute's. ok is false when the innermost Compute is
// no T, whatever a wrapper's methods say.
func As[T any](c Compute) (T, bool) {
	inner := c
	for {
		u, ok := inner.(Unwrapper)
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	var zero T
	if _, ok := inner.(T); !ok {
		return zero, false
	}
	if t, ok := c.(T); ok {
		return t, true
	}
	t, _ := inner.(T)
	return t, true
}

// KV is one sequence's KV cache on a backend.
type KV interface{ Positions() int }

// Loader builds a stage's Compute from a model whose tensors are read on
// demand (over HTTP Range in a worker). batch is the plan's prefill
// batch, the most positions the stage runs at once (a WebGPU stage sizes
// its buffers and submissions for it; the runner cuts prompts into
// pieces of it); 0 leaves it to the backend.
type Loader func(ctx context.Context, m *model.Model, r worker.Range, batch int) (Compute, error)

// CPU is the Loader of the Go CPU backend (which needs no batch).
func CPU(_ context.Context, m *model.Model, r worker.Range, _ int) (Compute, error) {
	s, err := worker.NewStage(m, r)
	if err != nil {
		return nil, err
	}
	return cpuCompute{s}, nil
}

// cpuCompute adapts worker.Stage to Compute.
type cpuCompute struct{ *worker.Stage }

func (c cpuCompute) NewKV(o worker.Options) (KV, error) { return c.Stage.NewKV(o) }

func (c cpuCompute) Forward(kv KV, x []float32, pos, n int) error {
	return c.Stage.Forward(kv.(*worker.KVCache), x, pos, n)
}

func (c cpuCompute) ForwardBatch(steps []Step, x []float32) error {
	ws := make([]worker.Step, len(steps))
	for i, st := range steps {
		ws[i] = worker.Step{KV: st.KV.(*worker.KVCache), Pos: st.Pos, N: st.N}
	}
	return c.Stage.ForwardBatch(ws, x)
}
