package worker

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
)

// KVOptions says how a stage keeps its keys and values.
type KVOptions struct {
	// Type is the element type of cache entries: F32 (the default), F16 or
	// Q8_0. Q8_0 needs a head dimension that is a multiple of 32.
	Type kernels.DType
	// Window, when positive, keeps only the last Window positions (a
	// sliding-window model's cache never needs more). Zero keeps all.
	Window int
}

// kvTypes are the element types a KV cache may use.
var kvTypes = map[kernels.DType]bool{kernels.F32: true, kernels.F16: true, kernels.Q8_0: true}

// KVBytesPerToken is the memory one position takes in the cache of blocks
// transformer blocks of model c, keys and values together.
func KVBytesPerToken(c *model.Config, blocks int, t kernels.DType) (int64, error) {
	if !kvTypes[t] {
		return 0, fmt.Errorf("KV cache type %s: want F32, F16 or Q8_0", t)
	}
	if _, err := t.RowBytes(int64(c.HeadDim)); err != nil {
		return 0, fmt.Errorf("KV cache type %s with head dimension %d: %w", t, c.HeadDim, err)
	}
	row, err := t.RowBytes(int64(c.KVDim()))
	if err != nil {
		return 0, err
	}
	return 2 * int64(blocks) * row, nil
}

// KVCache holds the keys and values of a stage's blocks. Entries are stored
// in their element type, one row of KVDim values per position; with a
// window, position p lives in slot p mod capacity. An F32 cache keeps its
// rows as []float32, which attention reads directly; the other types go
// through their codec.
type KVCache struct {
	typ       kernels.DType
	codec     *kernels.Codec
	blocks    int
	slots     int // positions held at once
	positions int // positions the sequence may reach
	window    int
	kvDim     int
	headDim   int
	rowBytes  int
	headSize  int         // bytes of one head's slice of a row
	k, v      [][]byte    // per block, for types other than F32
	kf, vf    [][]float32 // per block, for F32
}

// NewKVCache allocates room for positions positions (fewer with a window)
// of blocks blocks of model c.
func NewKVCache(c *model.Config, blocks, positions int, o KVOptions) (*KVCache, error) {
	if _, err := KVBytesPerToken(c, blocks, o.Type); err != nil {
		return nil, err
	}
	codec, err := o.Type.Codec()
	if err != nil {
		return nil, err
	}
	row, _ := o.Type.RowBytes(int64(c.KVDim()))
	head, _ := o.Type.RowBytes(int64(c.HeadDim))
	kv := &KVCache{typ: o.Type, codec: codec, blocks: blocks, slots: positions, positions: positions, window: o.Window, kvDim: c.KVDim(), headDim: c.HeadDim, rowBytes: int(row), headSize: int(head)}
	if o.Window > 0 {
		kv.slots = min(positions, o.Window+maxChunk-1)
	}
	if o.Type == kernels.F32 {
		kv.kf, kv.vf = make([][]float32, blocks), make([][]float32, blocks)
		for i := range kv.kf {
			kv.kf[i] = make([]float32, kv.slots*kv.kvDim)
			kv.vf[i] = make([]float32, kv.slots*kv.kvDim)
		}
		return kv, nil
	}
	kv.k, kv.v = make([][]byte, blocks), make([][]byte, blocks)
	for i := range kv.k {
		kv.k[i] = make([]byte, kv.slots*kv.rowBytes)
		kv.v[i] = make([]byte, kv.slots*kv.rowBytes)
	}
	return kv, nil
}

// maxChunk is the most positions a windowed stage runs in one batch, so
// that a batch never overwrites entries its own positions still attend to.
const maxChunk = 64

// Type is the element type of the entries.
func (c *KVCache) Type() kernels.DType { return c.typ }

// Positions is how many positions the sequence may reach.
func (c *KVCache) Positions() int { return c.positions }

// Blocks is the number of transformer blocks the cache holds.
func (c *KVCache) Blocks() int { return c.blocks }

// Window is the sliding window, 0 for none.
func (c *KVCache) Window() int { return c.window }

// Bytes is the memory the cache holds.
func (c *KVCache) Bytes() int64 { return int64(c.blocks) * 2 * int64(c.slots*c.rowBytes) }

func (c *KVCache) slot(pos int) int { return pos % c.slots }

// Store encodes the key and value of block b at position pos.
func (c *KVCache) Store(b, pos int, k, v []float32) {
	if c.kf != nil {
		off := c.slot(pos) * c.kvDim
		copy(c.kf[b][off:off+c.kvDim], k[:c.kvDim])
		copy(c.vf[b][off:off+c.kvDim], v[:c.kvDim])
		return
	}
	off := c.slot(pos) * c.rowBytes
	c.codec.Quantize(c.k[b][off:off+c.rowBytes], k[:c.kvDim])
	c.codec.Quantize(c.v[b][off:off+c.rowBytes], v[:c.kvDim])
}

// headOff is where KV head h of position pos starts in a block's storage.
func (c *KVCache) headOff(pos, h int) int { return c.slot(pos)*c.rowBytes + h*c.headSize }

// DotKey is q · (block b's key of KV head h at position pos).
func (c *KVCache) DotKey(b, pos, h int, q []float32) float32 {
	if c.kf != nil {
		off := c.slot(pos)*c.kvDim + h*c.headDim
		return kernels.Dot32(c.kf[b][off:off+c.headDim], q)
	}
	off := c.headOff(pos, h)
	return c.codec.Dot(c.k[b][off:off+c.headSize], q)
}

// AddValue adds a × (block b's value of KV head h at position pos) to out,
// using tmp (HeadDim values) as scratch.
func (c *KVCache) AddValue(b, pos, h int, a float32, out, tmp []float32) {
	if c.vf != nil {
		off := c.slot(pos)*c.kvDim + h*c.headDim
		kernels.AXPY(a, c.vf[b][off:off+c.headDim], out)
		return
	}
	off := c.headOff(pos, h)
	c.codec.Dequantize(tmp, c.v[b][off:off+c.headSize])
	kernels.AXPY(a, tmp, out)
}

// Attend writes into out (HeadDim values) query q's attention over KV head
// h of block b at positions [first, last]: the scores q·k/scale, softmaxed,
// weighting the values. scores (at least last+1-first values) and tmp
// (HeadDim) are scratch. An F32 cache computes as kernels.HeadScores and
// HeadWeigh do; the others dot each key with the codec and add each value
// in float32, in position order.
func (c *KVCache) Attend(b, h, first, last int, q []float32, scale float32, scores, out, tmp []float32) {
	att := scores[:last+1-first]
	if c.kf == nil {
		for t := first; t <= last; t++ {
			att[t-first] = c.DotKey(b, t, h, q) / scale
		}
		kernels.Softmax(att)
		clear(out)
		for t := first; t <= last; t++ {
			c.AddValue(b, t, h, att[t-first], out, tmp)
		}
		return
	}
	c.attendF32(b, h, first, last, q, scale, att, out)
}

// slotRun is a run of consecutive slots.
type slotRun struct{ begin, end int }

// slotRuns returns the slots of positions [first, last] in position order:
// one run, or two where a windowed cache wraps around.
func (c *KVCache) slotRuns(first, last int) [2]slotRun {
	s := c.slot(first)
	n := last + 1 - first
	if s+n <= c.slots {
		return [2]slotRun{{s, s + n}, {}}
	}
	return [2]slotRun{{s, c.slots}, {0, s + n - c.slots}}
}

// attendF32 is Attend for an F32 cache, on the []float32 rows directly.
func (c *KVCache) attendF32(b, h, first, last int, q []float32, scale float32, att, out []float32) {
	hd, stride := c.headDim, c.kvDim
	keys, values := c.kf[b][h*hd:], c.vf[b][h*hd:]
	runs := c.slotRuns(first, last)
	i := 0
	for _, r := range runs {
		n := r.end - r.begin
		kernels.HeadScores(att[i:i+n], q[:hd], keys[r.begin*stride:], stride, scale)
		i += n
	}
	kernels.Softmax(att)
	out = out[:hd]
	clear(out)
	i = 0
	for _, r := range runs {
		n := r.end - r.begin
		kernels.HeadWeigh(out, att[i:i+n], values[r.begin*stride:], stride)
		i += n
	}
}
