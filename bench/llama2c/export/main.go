// Command export converts a Llama GGUF file into the two files llama2.c's
// run.c reads, so that the benchmark in ../compare.sh can run run.c and
// tabshard on the same weights:
//
//	go run ./bench/llama2c/export -model in.gguf -checkpoint model.bin -tokenizer tokenizer.bin
//
// The checkpoint is llama2.c's legacy (version 0) format: seven int32s
// {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len},
// vocab_size negated when the classifier is not the embedding, then every
// weight as float32 grouped by kind across layers — the embedding, the
// attention norms, wq, wk, wv, wo, the FFN norms, w1 (gate), w2 (down),
// w3 (up), the final norm, a RoPE table run.c skips (written as zeros), and
// the classifier when it is not shared. Each matrix is row-major with one
// row per output, which is how GGUF stores it too ([cols, rows] in ggml's
// dimension order), so rows are copied as they are. GGUF's llama tensors
// already pair RoPE dimensions as run.c does (adjacent pairs), so no Q/K
// permutation is undone.
//
// The tokenizer file is max_token_length (uint32), then per token its score
// (float32), its length in bytes (int32) and its bytes, with SentencePiece's
// "▁" written as a space and <s>, </s> as "\n<s>\n", "\n</s>\n", as
// llama2.c's own exporter writes them.
//
// Nothing of llama2.c is in this repository; the format is described above
// in our own words. Models run.c cannot run as tabshard does — RoPE bases
// other than 10000, partial RoPE, scaled RoPE, QKV biases, sliding windows,
// byte-level BPE tokenizers — are refused.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
)

func main() {
	in := flag.String("model", "", "GGUF model to convert")
	ckpt := flag.String("checkpoint", "model.bin", "llama2.c checkpoint to write")
	tok := flag.String("tokenizer", "tokenizer.bin", "llama2.c tokenizer to write")
	flag.Parse()
	if *in == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *ckpt, *tok); err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

func run(in, ckpt, tok string) error {
	m, err := model.Open(in)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := runnable(m.Config); err != nil {
		return err
	}
	if err := writeFile(ckpt, func(w io.Writer) error { return writeCheckpoint(w, m) }); err != nil {
		return err
	}
	return writeFile(tok, func(w io.Writer) error { return writeTokenizer(w, m) })
}

// runnable refuses configurations run.c would compute differently: it
// hard-codes RMSNorm epsilon 1e-5, RoPE base 10000 over whole heads, and
// has no biases, scaling or windows.
func runnable(c *model.Config) error {
	switch {
	case c.Arch != model.ArchLlama:
		return fmt.Errorf("architecture %v: run.c runs llama only", c.Arch)
	case c.RopeDim != c.HeadDim || c.RopeBase != 10000 || c.RopeScaling != nil:
		return fmt.Errorf("RoPE over %d of %d dimensions, base %g, scaling %v: run.c rotates whole heads with base 10000",
			c.RopeDim, c.HeadDim, c.RopeBase, c.RopeScaling != nil)
	case c.QKVBias || c.SlidingWindow != 0:
		return errors.New("QKV bias or sliding window: run.c has neither")
	case c.HeadDim*c.Heads != c.Dim:
		return fmt.Errorf("head size %d × %d heads is not dim %d", c.HeadDim, c.Heads, c.Dim)
	case math.Abs(float64(c.NormEps)-1e-5) > 1e-9:
		return fmt.Errorf("RMSNorm epsilon %g: run.c uses 1e-5", c.NormEps)
	}
	return nil
}

// writeFile writes path through a buffer, removing it on error.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeCheckpoint(w io.Writer, m *model.Model) error {
	c := m.Config
	shared, err := sharedClassifier(m)
	if err != nil {
		return err
	}
	vocab := int32(c.Vocab)
	if !shared {
		vocab = -vocab
	}
	header := []int32{int32(c.Dim), int32(c.FFNDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.ContextLength)}
	if err := binary.Write(w, binary.LittleEndian, header); err != nil {
		return err
	}
	x := exporter{w: w, m: m}
	x.matrix("token_embd.weight", c.Vocab, c.Dim)
	x.perLayer("attn_norm.weight", 1, c.Dim)
	x.perLayer("attn_q.weight", c.QDim(), c.Dim)
	x.perLayer("attn_k.weight", c.KVDim(), c.Dim)
	x.perLayer("attn_v.weight", c.KVDim(), c.Dim)
	x.perLayer("attn_output.weight", c.Dim, c.QDim())
	x.perLayer("ffn_norm.weight", 1, c.Dim)
	x.perLayer("ffn_gate.weight", c.FFNDim, c.Dim)
	x.perLayer("ffn_down.weight", c.Dim, c.FFNDim)
	x.perLayer("ffn_up.weight", c.FFNDim, c.Dim)
	x.matrix("output_norm.weight", 1, c.Dim)
	x.zeros(c.ContextLength * c.HeadDim) // the two halves of the old RoPE table
	if !shared {
		x.matrix("output.weight", c.Vocab, c.Dim)
	}
	return x.err
}

// sharedClassifier reports whether the classifier is the embedding: no
// output.weight, or one with the embedding's bytes (stories260K's GGUF
// stores such a copy).
func sharedClassifier(m *model.Model) (bool, error) {
	if !m.Has("output.weight") {
		return true, nil
	}
	c := m.Config
	emb, err := m.Matrix("token_embd.weight", c.Vocab, c.Dim)
	if err != nil {
		return false, err
	}
	out, err := m.Matrix("output.weight", c.Vocab, c.Dim)
	if err != nil {
		return false, err
	}
	return emb.Type == out.Type && bytes.Equal(emb.Data, out.Data), nil
}

// exporter writes tensors as float32, keeping the first error.
type exporter struct {
	w   io.Writer
	m   *model.Model
	err error
}

func (x *exporter) perLayer(name string, rows, cols int) {
	for i := range x.m.Config.Layers {
		x.matrix(model.BlockTensor(i, name), rows, cols)
	}
}

// matrix writes tensor name, rows × cols, row by row as float32; a vector
// is one row.
func (x *exporter) matrix(name string, rows, cols int) {
	if x.err != nil {
		return
	}
	var mat *kernels.Matrix
	if rows == 1 {
		v, err := x.m.Vector(name, cols)
		if err != nil {
			x.err = err
			return
		}
		x.floats(v)
		return
	}
	mat, x.err = x.m.Matrix(name, rows, cols)
	if x.err != nil {
		return
	}
	if mat.Type == kernels.F32 {
		_, x.err = x.w.Write(mat.Data) // already little-endian float32 rows
		return
	}
	row := make([]float32, cols)
	for r := 0; r < rows && x.err == nil; r++ {
		mat.DequantizeRow(row, r)
		x.floats(row)
	}
}

func (x *exporter) floats(v []float32) {
	if x.err == nil {
		x.err = binary.Write(x.w, binary.LittleEndian, v)
	}
}

func (x *exporter) zeros(n int) {
	if x.err == nil {
		_, x.err = x.w.Write(make([]byte, 4*n))
	}
}

// writeTokenizer writes the vocabulary as run.c's build_tokenizer reads it.
func writeTokenizer(w io.Writer, m *model.Model) error {
	f := m.File
	if kind, _ := f.String("tokenizer.ggml.model"); kind != "llama" {
		return fmt.Errorf("tokenizer %q: run.c decodes SentencePiece (llama) vocabularies only", kind)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return err
	}
	scores, err := f.Float32s("tokenizer.ggml.scores")
	if err != nil {
		return err
	}
	if len(scores) != len(tokens) {
		return fmt.Errorf("%d scores for %d tokens", len(scores), len(tokens))
	}
	pieces := make([][]byte, len(tokens))
	maxLen := 0
	for i, t := range tokens {
		pieces[i] = []byte(runcPiece(m, i, t))
		maxLen = max(maxLen, len(pieces[i]))
	}
	if err := binary.Write(w, binary.LittleEndian, uint32(maxLen)); err != nil {
		return err
	}
	for i, p := range pieces {
		if err := binary.Write(w, binary.LittleEndian, scores[i]); err != nil {
			return err
		}
		if err := binary.Write(w, binary.LittleEndian, int32(len(p))); err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// runcPiece is token id's string as llama2.c's tokenizer file spells it.
func runcPiece(m *model.Model, id int, tok string) string {
	switch id {
	case m.Tokenizer.BOS():
		return "\n<s>\n"
	case m.Tokenizer.EOS():
		return "\n</s>\n"
	}
	return strings.ReplaceAll(tok, "▁", " ")
}
