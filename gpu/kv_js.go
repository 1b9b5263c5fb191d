//go:build js && wasm

package gpu

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/wgsl"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// maxChunk is the most positions a windowed stage runs in one batch, as in
// worker: a batch must not overwrite cache entries its own positions still
// attend to.
const maxChunk = 64

// KV is one sequence's KV cache in GPU buffers: per block, keys and values
// of Slots positions × KVDim f32 values; with a window, position p lives
// in slot p mod Slots. It also holds the forward programs bound to it.
type KV struct {
	s                *Stage
	k, v             []*Buffer
	slots, positions int
	window           int
	decode, prefill  *Program
	// part holds split attention's partials for the decode program; nil
	// where heads are not a multiple of 4 values.
	part *Buffer
	// rb is where a decoding step's output is copied to be read.
	rb *Buffer
	// batch holds what ForwardBatch needs of the cache (nil until then).
	batch *kvBatch
}

var _ agent.KV = (*KV)(nil)

// Positions is how many positions the sequence may reach.
func (kv *KV) Positions() int { return kv.positions }

// Window is the sliding window, 0 for none.
func (kv *KV) Window() int { return kv.window }

// Bytes is the GPU memory the cache holds.
func (kv *KV) Bytes() int64 {
	return 2 * int64(len(kv.k)) * int64(kv.slots) * int64(kv.s.cfg.KVDim()) * 4
}

// Release frees the cache's buffers; the KV must not be used after.
func (kv *KV) Release() {
	for i := range kv.k {
		kv.k[i].Destroy()
		kv.v[i].Destroy()
	}
	kv.part.Destroy()
	kv.rb.Destroy()
	kv.batch.release()
	kv.k, kv.v, kv.decode, kv.prefill, kv.part, kv.rb, kv.batch = nil, nil, nil, nil, nil, nil, nil
}

// NewKV allocates one sequence's KV cache on the GPU. Entries are f32
// (the only type the GPU cache stores).
func (s *Stage) NewKV(o worker.Options) (agent.KV, error) {
	c := &s.cfg
	if o.Positions <= 0 || o.Positions > c.ContextLength {
		return nil, fmt.Errorf("%w: %d positions (context length %d)", worker.ErrPosition, o.Positions, c.ContextLength)
	}
	if o.KV.Window < 0 {
		return nil, fmt.Errorf("%w: sliding window %d", worker.ErrPosition, o.KV.Window)
	}
	if o.KV.Type != kernels.F32 {
		return nil, fmt.Errorf("%w: GPU KV cache type %s (only F32)", ErrLimits, o.KV.Type)
	}
	if o.KV.Window == 0 {
		o.KV.Window = c.SlidingWindow
	}
	kv := &KV{s: s, slots: o.Positions, positions: o.Positions, window: o.KV.Window}
	if kv.window > 0 {
		kv.slots = min(o.Positions, kv.window+maxChunk-1)
	}
	size := int64(kv.slots) * int64(c.KVDim()) * 4
	for range s.blocks {
		k, err := s.d.NewStorage(size)
		if err != nil {
			kv.Release()
			return nil, err
		}
		v, err := s.d.NewStorage(size)
		if err != nil {
			k.Destroy()
			kv.Release()
			return nil, err
		}
		kv.k, kv.v = append(kv.k, k), append(kv.v, v)
	}
	if len(s.blocks) > 0 {
		rb, err := s.d.NewReadback(4 * int64(c.Dim))
		if err != nil {
			kv.Release()
			return nil, err
		}
		kv.rb = rb
	}
	// The decode program's split attention, where its partials fit one
	// binding (else decoding uses one-pass attention).
	rows := int64(max(min(s.opt.MatMulMin-1, s.opt.MaxBatch), 1)) * int64(c.Heads)
	if size := 4 * rows * int64(wgsl.SplitPartValues(c.HeadDim, kv.slots)); c.HeadDim%4 == 0 && len(s.blocks) > 0 &&
		size <= min(s.d.Limits.MaxStorageBufferBindingSize, s.d.Limits.MaxBufferSize) {
		part, err := s.d.NewStorage(size)
		if err != nil {
			kv.Release()
			return nil, err
		}
		kv.part = part
	}
	return kv, s.d.Err()
}

// defaultPrefillPartBytes is the most a stage's prefill attention
// partials take unless Options say otherwise: Llama-3-70B's 64 heads
// over a 1024-position cache need 532 KB a position, so 126 positions a
// pass; at 8192 positions, 15.
const defaultPrefillPartBytes = 64 << 20

// prefillPartBytes is the size of the buffer a prefill's split attention
// writes its partials to, shared by every cache of the stage (their
// passes run one after another): enough for MaxBatch positions of the
// model's context, at most Options.PrefillPartBytes (64 MiB by default)
// and the device's binding limit; 0 where prefill runs one-pass
// attention.
func (s *Stage) prefillPartBytes() int64 {
	c := &s.cfg
	if s.opt.OnePassPrefill || c.HeadDim%4 != 0 || len(s.blocks) == 0 {
		return 0
	}
	most := s.opt.PrefillPartBytes
	if most <= 0 {
		most = defaultPrefillPartBytes
	}
	most = min(most, s.d.Limits.MaxStorageBufferBindingSize, s.d.Limits.MaxBufferSize)
	need := 4 * int64(s.opt.MaxBatch) * int64(c.Heads) * int64(wgsl.SplitPartValues(c.HeadDim, c.ContextLength))
	return min(most, need)
}

// prefillRows is how many positions of a prefill on kv one pass of split
// attention takes (its partials fill the stage's buffer), at most
// MaxBatch; 0 where kv's prefill runs one-pass attention (no buffer, or
// not one position's partials).
func (s *Stage) prefillRows(kv *KV) int {
	if s.prefillPart == nil {
		return 0
	}
	per := 4 * int64(s.cfg.Heads) * int64(wgsl.SplitPartValues(s.cfg.HeadDim, kv.slots))
	return int(min(s.prefillPart.Size/per, int64(s.opt.MaxBatch)))
}

// prefillAttention records attention for a prefill program of kv's block
// li: split over the keys where kv's partials fit the stage's buffer,
// else (or with Options.OnePassPrefill) one pass.
func (s *Stage) prefillAttention(ctx context.Context, o *Ops, p *Program, shape RopeShape, kv *KV, li int) error {
	rows := s.prefillRows(kv)
	if rows == 0 {
		return o.Attention(ctx, p, shape, s.q, kv.k[li], kv.v[li], s.att)
	}
	return o.AttentionPrefill(ctx, p, shape, s.q, kv.k[li], kv.v[li], s.prefillPart, s.att, rows, s.opt.MaxBatch, s.attnGroup)
}
