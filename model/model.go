package model

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/chattemplate"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/seeded"
	"github.com/tabshard/tabshard/model/tokenizer"
)

// ErrTensor is a tensor that is missing or has the wrong shape.
var ErrTensor = errors.New("bad tensor")

// Model is an opened model file: its header, configuration and tokenizer.
// Tensor data stays in the file until a stage asks for it.
type Model struct {
	File      *gguf.File
	Config    *Config
	Tokenizer *tokenizer.Tokenizer
	r         io.ReaderAt
	closer    io.Closer

	chatOnce     sync.Once
	chat         *chattemplate.Template
	chatFromFile bool
	chatErr      error
}

// Open reads the header of the GGUF file at path.
func Open(path string) (*Model, error) {
	f, osf, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := fromFile(f, osf)
	if err != nil {
		osf.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.closer = osf
	return m, nil
}

// Load reads a model from r, which holds size bytes of a GGUF file.
func Load(r io.ReaderAt, size int64) (*Model, error) {
	f, err := gguf.Read(r, size)
	if err != nil {
		return nil, err
	}
	return fromFile(f, r)
}

func fromFile(f *gguf.File, r io.ReaderAt) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if tok.Len() != cfg.Vocab {
		return nil, fmt.Errorf("%w: tokenizer has %d tokens, model vocabulary %d", ErrBadConfig, tok.Len(), cfg.Vocab)
	}
	if seed, ok := seeded.Seed(f); ok { // the tensor data are made, not read
		r = seeded.NewReader(f, r, seed)
	}
	return &Model{File: f, Config: cfg, Tokenizer: tok, r: r}, nil
}

// Seeded reports whether the model's weights come from a seed (package
// model/seeded) rather than from the file, and the seed. Reads through
// the model return the seeded bytes; a GPU can generate them in place.
func (m *Model) Seeded() (uint32, bool) { return seeded.Seed(m.File) }

// Close releases the file.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	return m.closer.Close()
}

// BlockTensor names a tensor of transformer block i, e.g. "attn_q.weight".
func BlockTensor(i int, name string) string { return fmt.Sprintf("blk.%d.%s", i, name) }

// Has reports whether the file holds a tensor called name.
func (m *Model) Has(name string) bool { _, ok := m.File.Tensor(name); return ok }

// Matrix reads the 2-D tensor name, checking it has cols columns and rows
// rows.
func (m *Model) Matrix(name string, rows, cols int) (*kernels.Matrix, error) {
	t, data, err := m.read(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) != 2 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) {
		return nil, fmt.Errorf("%w: %s has dims %v, want [%d %d]", ErrTensor, name, t.Dims, cols, rows)
	}
	mat, err := kernels.NewMatrix(t.Type, rows, cols, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTensor, name, err)
	}
	return mat, nil
}

// Vector reads the 1-D tensor name of n elements as float32.
func (m *Model) Vector(name string, n int) ([]float32, error) {
	t, data, err := m.read(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("%w: %s has dims %v, want [%d]", ErrTensor, name, t.Dims, n)
	}
	mat, err := kernels.NewMatrix(t.Type, 1, n, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTensor, name, err)
	}
	v := make([]float32, n)
	mat.DequantizeRow(v, 0)
	return v, nil
}

func (m *Model) read(name string) (*gguf.TensorInfo, []byte, error) {
	t, ok := m.File.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s is missing", ErrTensor, name)
	}
	data, err := m.File.ReadTensor(m.r, t)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, data, nil
}
