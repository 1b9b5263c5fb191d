package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// storiesVocab is testdata/stories260K-vocab.json: the tokenizer metadata of
// the bundled stories260K GGUF, extracted once (see testdata/README.md).
type storiesVocab struct {
	Model  string    `json:"model"`
	BOS    int       `json:"bos_token_id"`
	EOS    int       `json:"eos_token_id"`
	Tokens []string  `json:"tokens"`
	Scores []float32 `json:"scores"`
	Types  []int32   `json:"token_type"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// storiesVocabulary returns the stories260K vocabulary as New takes it.
func storiesVocabulary(t testing.TB) Vocab {
	t.Helper()
	var sv storiesVocab
	readJSON(t, "stories260K-vocab.json", &sv)
	return Vocab{Model: sv.Model, Tokens: sv.Tokens, Scores: sv.Scores, Types: sv.Types, BOS: sv.BOS, EOS: sv.EOS, AddBOS: true}
}

func stories(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := New(storiesVocabulary(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mapMetadata is an in-memory Metadata, as the GGUF reader would present
// a file's key-value pairs.
type mapMetadata map[string]any

type missingKeyError string

func (e missingKeyError) Error() string { return "key " + string(e) + " not found" }

func lookup[T any](md mapMetadata, key string) (T, error) {
	var zero T
	v, ok := md[key]
	if !ok {
		return zero, missingKeyError(key)
	}
	x, ok := v.(T)
	if !ok {
		return zero, missingKeyError(key + " (wrong type)")
	}
	return x, nil
}

func (md mapMetadata) String(k string) (string, error)      { return lookup[string](md, k) }
func (md mapMetadata) Uint(k string) (uint64, error)        { return lookup[uint64](md, k) }
func (md mapMetadata) Bool(k string) (bool, error)          { return lookup[bool](md, k) }
func (md mapMetadata) Strings(k string) ([]string, error)   { return lookup[[]string](md, k) }
func (md mapMetadata) Float32s(k string) ([]float32, error) { return lookup[[]float32](md, k) }
func (md mapMetadata) Int32s(k string) ([]int32, error)     { return lookup[[]int32](md, k) }
