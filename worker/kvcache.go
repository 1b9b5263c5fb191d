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
// window, position p lives in slot p mod capacity.
type KVCache struct {
	typ       kernels.DType
	codec     *kernels.Codec
	slots     int // positions held at once
	positions int // positions the sequence may reach
	window    int
	kvDim     int
	headDim   int
	rowBytes  int
	headSize  int // bytes of one head's slice of a row
	k, v      [][]byte
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
	kv := &KVCache{typ: o.Type, codec: codec, slots: positions, positions: positions, window: o.Window, kvDim: c.KVDim(), headDim: c.HeadDim, rowBytes: int(row), headSize: int(head)}
	if o.Window > 0 {
		kv.slots = min(positions, o.Window+maxChunk-1)
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
func (c *KVCache) Blocks() int { return len(c.k) }

// Window is the sliding window, 0 for none.
func (c *KVCache) Window() int { return c.window }

// Bytes is the memory the cache holds.
func (c *KVCache) Bytes() int64 { return int64(len(c.k)) * 2 * int64(c.slots*c.rowBytes) }

func (c *KVCache) slot(pos int) int { return pos % c.slots }

// Store encodes the key and value of block b at position pos.
func (c *KVCache) Store(b, pos int, k, v []float32) {
	off := c.slot(pos) * c.rowBytes
	c.codec.Quantize(c.k[b][off:off+c.rowBytes], k[:c.kvDim])
	c.codec.Quantize(c.v[b][off:off+c.rowBytes], v[:c.kvDim])
}

// headOff is where KV head h of position pos starts in a block's storage.
func (c *KVCache) headOff(pos, h int) int { return c.slot(pos)*c.rowBytes + h*c.headSize }

// DotKey is q · (block b's key of KV head h at position pos).
func (c *KVCache) DotKey(b, pos, h int, q []float32) float32 {
	off := c.headOff(pos, h)
	return c.codec.Dot(c.k[b][off:off+c.headSize], q)
}

// AddValue adds a × (block b's value of KV head h at position pos) to out,
// using tmp (HeadDim values) as scratch.
func (c *KVCache) AddValue(b, pos, h int, a float32, out, tmp []float32) {
	off := c.headOff(pos, h)
	c.codec.Dequantize(tmp, c.v[b][off:off+c.headSize])
	kernels.AXPY(a, tmp, out)
}
