// Package bundled embeds the default model, stories260K: Karpathy's tiny
// Llama trained on TinyStories (dim 64, 5 blocks, vocabulary 512), MIT
// licensed (see LICENSE beside this file), as GGUF v3. It lets every
// command run with no model file around it.
package bundled

import (
	"bytes"
	_ "embed"

	"github.com/tabshard/tabshard/model"
)

//go:embed stories260K.gguf
var stories260K []byte

// Name is how commands refer to the bundled model.
const Name = "stories260K"

// Bytes returns the bundled GGUF file. Callers must not modify it.
func Bytes() []byte { return stories260K }

// Open returns the bundled model.
func Open() (*model.Model, error) {
	return model.Load(bytes.NewReader(stories260K), int64(len(stories260K)))
}
