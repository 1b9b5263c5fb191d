package worker

// KVCache holds the keys and values of a stage's blocks for every position
// computed so far, as float32.
type KVCache struct {
	positions, kvDim int
	k, v             [][]float32 // per block: positions × kvDim
}

// NewKVCache allocates a cache of blocks × positions × kvDim keys and values.
func NewKVCache(blocks, positions, kvDim int) *KVCache {
	c := &KVCache{positions: positions, kvDim: kvDim, k: make([][]float32, blocks), v: make([][]float32, blocks)}
	for i := range c.k {
		c.k[i] = make([]float32, positions*kvDim)
		c.v[i] = make([]float32, positions*kvDim)
	}
	return c
}

// Positions is the number of positions the cache can hold.
func (c *KVCache) Positions() int { return c.positions }

// Store writes the key and value of block b at position pos.
func (c *KVCache) Store(b, pos int, k, v []float32) {
	copy(c.k[b][pos*c.kvDim:], k[:c.kvDim])
	copy(c.v[b][pos*c.kvDim:], v[:c.kvDim])
}

// Key returns block b's key at position pos.
func (c *KVCache) Key(b, pos int) []float32 { return c.k[b][pos*c.kvDim : (pos+1)*c.kvDim] }

// Value returns block b's value at position pos.
func (c *KVCache) Value(b, pos int) []float32 { return c.v[b][pos*c.kvDim : (pos+1)*c.kvDim] }

// Bytes is the memory the cache holds.
func (c *KVCache) Bytes() int64 { return int64(len(c.k)) * 2 * int64(c.positions*c.kvDim) * 4 }
