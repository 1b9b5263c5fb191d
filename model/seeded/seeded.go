// Package seeded defines a model's weights by a seed instead of by stored
// bytes, so that a 40 GB model needs neither disk nor download: every
// reader of the file — a CPU worker, a tab, a GPU generating its buffers in
// place — derives the same tensor bytes from the seed, bit for bit.
//
// A seeded GGUF file carries the key tabshard.weights.seed; its tensor data
// is stored as zeros (sparsely). Each tensor row is a stream of 32-bit
// words, word k of row r being hash(k ^ hash(r ^ tensorSeed)) with the
// integer hash of fill.wgsl (a row's last word may be cut short); then, so that the numbers are finite and of a
// trained model's size, the fp16 scales of block types take a fixed
// exponent and keep 10 random mantissa bits, f16 and f32 values take a
// fixed exponent with a random sign and mantissa, and 1-D f32 tensors
// (norms) lie in [1, 2). Only integer operations are involved, so the GPU
// kernel (kernels/wgsl generate.wgsl) produces the same bytes.
package seeded

import (
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/gguf"
)

// Key is the GGUF metadata key of a seeded file's seed (uint32).
const Key = "tabshard.weights.seed"

// ErrType is a tensor type seeded weights cannot be made of.
var ErrType = errors.New("seeded: unsupported tensor type")

// Seed returns the seed of a seeded file, and whether f is one.
func Seed(f *gguf.File) (uint32, bool) {
	v, err := f.Uint(Key)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// Hash is the 32-bit integer hash of the generator (a PCG output
// permutation), the same as fill.wgsl's and generate.wgsl's.
func Hash(x uint32) uint32 {
	v := x*747796405 + 2891336453
	w := ((v >> ((v >> 28) + 4)) ^ v) * 277803737
	return (w >> 22) ^ w
}

// TensorSeed is the seed of the tensor called name in a file of seed.
func TensorSeed(seed uint32, name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return Hash(seed ^ Hash(h.Sum32()))
}

// RowSeed is the seed of row r of a tensor.
func RowSeed(tensorSeed uint32, r int64) uint32 { return Hash(uint32(r) ^ tensorSeed) }

// Kinds of recipe.
const (
	KindBlocks uint32 = iota // random bytes with fp16 scale fields set
	KindF16                  // every half-word a value
	KindF32                  // every word a value
)

// Recipe is how one tensor's raw words become its bytes. Its fields are
// the generate kernel's parameters.
type Recipe struct {
	Kind uint32
	// BlockBytes is the size of a block (KindBlocks).
	BlockBytes uint32
	// Fields are the byte offsets of fp16 fields in a block; NoField
	// marks an unused entry.
	Fields [2]uint32
	// Exps are each field's (or KindF16/KindF32 value's) biased exponent.
	Exps [2]uint32
	// Sign keeps the random sign bit (KindF16, KindF32) when set.
	Sign uint32
}

// NoField is an unused Recipe.Fields entry.
const NoField = 0xffffffff

// Exponents (f16 biased) of the scales: each type's values come out with a
// spread near 1/128, that of a trained 8192-wide layer's weights.
var blockRecipes = map[kernels.DType]Recipe{
	kernels.Q4_0: {Kind: KindBlocks, BlockBytes: 18, Fields: [2]uint32{0, NoField}, Exps: [2]uint32{5, 0}},
	kernels.Q8_0: {Kind: KindBlocks, BlockBytes: 34, Fields: [2]uint32{0, NoField}, Exps: [2]uint32{1, 0}},
	kernels.Q4_K: {Kind: KindBlocks, BlockBytes: 144, Fields: [2]uint32{0, 2}, Exps: [2]uint32{1, 4}},
	kernels.Q6_K: {Kind: KindBlocks, BlockBytes: 210, Fields: [2]uint32{208, NoField}, Exps: [2]uint32{0, 0}},
	kernels.Q3_K: {Kind: KindBlocks, BlockBytes: 110, Fields: [2]uint32{108, NoField}, Exps: [2]uint32{3, 0}},
	kernels.Q2_K: {Kind: KindBlocks, BlockBytes: 84, Fields: [2]uint32{80, 82}, Exps: [2]uint32{5, 5}},
}

// RecipeOf returns the recipe of tensor t.
func RecipeOf(t *gguf.TensorInfo) (Recipe, error) {
	switch t.Type {
	case kernels.F32:
		if len(t.Dims) == 1 { // norms and biases: in [1, 2)
			return Recipe{Kind: KindF32, Exps: [2]uint32{127, 0}}, nil
		}
		return Recipe{Kind: KindF32, Exps: [2]uint32{120, 0}, Sign: 1}, nil
	case kernels.F16:
		return Recipe{Kind: KindF16, Exps: [2]uint32{8, 0}, Sign: 1}, nil
	}
	if r, ok := blockRecipes[t.Type]; ok {
		return r, nil
	}
	return Recipe{}, fmt.Errorf("%w: %s (tensor %s)", ErrType, t.Type, t.Name)
}

// Rows writes rows [begin, end) of tensor t of a file of seed into dst,
// which holds exactly those rows' bytes.
func Rows(dst []byte, t *gguf.TensorInfo, seed uint32, begin, end int64) error {
	rec, err := RecipeOf(t)
	if err != nil {
		return err
	}
	rb := t.RowBytes()
	if rb == 0 {
		return fmt.Errorf("%w: tensor %s has rows of unknown size", ErrType, t.Name)
	}
	if int64(len(dst)) != (end-begin)*rb {
		return fmt.Errorf("seeded: %d bytes for rows [%d,%d) of %d bytes", len(dst), begin, end, rb)
	}
	ts := TensorSeed(seed, t.Name)
	for r := begin; r < end; r++ {
		rec.row(dst[(r-begin)*rb:(r-begin+1)*rb], RowSeed(ts, r))
	}
	return nil
}

// row writes one row of the recipe from its row seed.
func (rec Recipe) row(dst []byte, rs uint32) {
	var word [4]byte
	for k := 0; 4*k < len(dst); k++ {
		w := Hash(uint32(k) ^ rs)
		switch rec.Kind {
		case KindF32:
			w = w&(0x007fffff|rec.Sign<<31) | rec.Exps[0]<<23
		case KindF16:
			m := uint32(0x03ff | rec.Sign<<15)
			m |= m << 16
			w = w&m | rec.Exps[0]<<10 | rec.Exps[0]<<26
		}
		word[0], word[1], word[2], word[3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
		copy(dst[4*k:], word[:]) // a row's last word may be cut short
	}
	if rec.Kind != KindBlocks {
		return
	}
	bs := int(rec.BlockBytes)
	for b := 0; b+bs <= len(dst); b += bs {
		for j, f := range rec.Fields {
			if f == NoField {
				continue
			}
			p := b + int(f)
			dst[p+1] = dst[p+1]&0x03 | byte(rec.Exps[j]<<2) // sign 0, exponent, mantissa kept
		}
	}
}
