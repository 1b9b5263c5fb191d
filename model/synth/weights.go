package synth

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"math"
	"strconv"

	"github.com/tabshard/tabshard/kernels"
)

// specialScale shrinks the embedding (and classifier) rows of the control
// tokens <unk>, <s> and </s>: their logits stay near zero, far below the
// largest of thousands of random logits, so greedy decoding never samples
// BOS or EOS and a benchmark always runs all its steps, in tabshard and in
// llama2.c alike.
const specialScale = 1.0 / 64

// chunkBytes is about how much tensor data is generated per write.
const chunkBytes = 256 << 10

// matrix is how a 2-D weight is drawn: rows × cols values uniform in
// ±1/sqrt(cols), so each matvec output has about the spread of its input and
// activations neither vanish nor explode through the layers.
type matrix struct {
	name          string
	rows, cols    int
	shrinkSpecial bool // scale the control tokens' rows by specialScale
	stream        string
}

func (b *builder) tensors(s Spec, seed uint64) {
	d, kv := s.Dim, s.Dim/s.Heads*s.KVHeads
	b.matrix(s, seed, matrix{name: "token_embd.weight", rows: s.Vocab, cols: d, shrinkSpecial: true})
	for i := range s.Layers {
		blk := func(n string) string { return blockName(i, n) }
		b.matrix(s, seed, matrix{name: blk("attn_q.weight"), rows: d, cols: d})
		b.matrix(s, seed, matrix{name: blk("attn_k.weight"), rows: kv, cols: d})
		b.matrix(s, seed, matrix{name: blk("attn_v.weight"), rows: kv, cols: d})
		b.matrix(s, seed, matrix{name: blk("attn_output.weight"), rows: d, cols: d})
		b.matrix(s, seed, matrix{name: blk("ffn_gate.weight"), rows: s.FFNDim, cols: d})
		b.matrix(s, seed, matrix{name: blk("ffn_down.weight"), rows: d, cols: s.FFNDim})
		b.matrix(s, seed, matrix{name: blk("ffn_up.weight"), rows: s.FFNDim, cols: d})
		b.ones(blk("attn_norm.weight"), d)
		b.ones(blk("ffn_norm.weight"), d)
	}
	b.ones("output_norm.weight", d)
	out := matrix{name: "output.weight", rows: s.Vocab, cols: d, shrinkSpecial: true}
	if !s.Untied {
		out.stream = "token_embd.weight" // the same draws: an exact copy
	}
	b.matrix(s, seed, out)
}

func blockName(i int, name string) string { return "blk." + strconv.Itoa(i) + "." + name }

// matrix adds a weight of the spec's type whose values come from a stream
// seeded by seed and the tensor's name, so each tensor's data is
// independent of the others and of their order.
func (b *builder) matrix(s Spec, seed uint64, m matrix) {
	stream := m.stream
	if stream == "" {
		stream = m.name
	}
	dims := []uint64{uint64(m.cols), uint64(m.rows)}
	b.keep(b.w.AddTensor(m.name, s.Type, dims, func(w io.Writer) error {
		return writeMatrix(w, s.Type, m, streamSeed(seed, stream))
	}))
}

// ones adds an F32 vector of n ones: RMSNorm weights that leave the
// normalised activations as they are.
func (b *builder) ones(name string, n int) {
	b.keep(b.w.AddTensor(name, kernels.F32, []uint64{uint64(n)}, func(w io.Writer) error {
		buf := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(1))
		}
		_, err := w.Write(buf)
		return err
	}))
}

// writeMatrix generates m row by row, writing about chunkBytes at a time.
func writeMatrix(w io.Writer, t kernels.DType, m matrix, seed uint64) error {
	size := 4
	if t == kernels.F16 {
		size = 2
	}
	rowsPerChunk := max(1, chunkBytes/(size*m.cols))
	buf := make([]byte, 0, rowsPerChunk*m.cols*size)
	row := make([]float32, m.cols)
	rng := splitmix{seed}
	scale := float32(1 / math.Sqrt(float64(m.cols)))
	for r := range m.rows {
		rs := scale
		if m.shrinkSpecial && r <= eosID {
			rs *= specialScale
		}
		rng.fill(row, rs)
		buf = appendRow(buf, t, row)
		if len(buf)+m.cols*size > cap(buf) || r == m.rows-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

func appendRow(buf []byte, t kernels.DType, row []float32) []byte {
	if t == kernels.F16 {
		for _, v := range row {
			buf = binary.LittleEndian.AppendUint16(buf, kernels.FP32ToFP16(v))
		}
		return buf
	}
	for _, v := range row {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	return buf
}

// streamSeed mixes the model seed with a tensor name.
func streamSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ h.Sum64()
}

// splitmix is SplitMix64 (Steele, Lea, Flood 2014): fast, and every seed,
// zero included, gives a good stream.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill sets v to values uniform in [-scale, scale), two per 64-bit draw,
// each with 24 random bits so that the float32 conversion is exact.
func (s *splitmix) fill(v []float32, scale float32) {
	const unit = 1.0 / (1 << 23)
	for i := 0; i < len(v); i += 2 {
		z := s.next()
		v[i] = float32(int32(uint32(z))>>8) * unit * scale
		if i+1 < len(v) {
			v[i+1] = float32(int32(uint32(z>>32))>>8) * unit * scale
		}
	}
}
