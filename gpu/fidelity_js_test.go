//go:build js && wasm

package gpu

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/synth"
)

// TestStagePresetFidelity holds gpu.Stage to worker.Stage on a preset's
// shape with seeded random weights, cut to a few layers so that the CPU
// reference fits wasm memory and time: TABSHARD_FIDELITY names the preset
// and policy (e.g. llama-3-8b:q4_0), TABSHARD_FIDELITY_LAYERS the layers
// (default 2). The model is split in two stages, as two workers would
// hold it; logits are held to logitTol at every position of a prompt and
// of greedy steps. TABSHARD_FIDELITY_WEIGHTS=seeded makes the weights
// seeded (package model/seeded): the GPU generates them in place, the CPU
// reference reads them through the model. Skipped unless asked for (the
// GPU machine runs it).
func TestStagePresetFidelity(t *testing.T) {
	spec := os.Getenv("TABSHARD_FIDELITY")
	if spec == "" {
		t.Skip("set TABSHARD_FIDELITY=preset:policy, e.g. llama-3-8b:q4_0")
	}
	p, pol, err := preset.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	p.Layers = 2
	if v := os.Getenv("TABSHARD_FIDELITY_LAYERS"); v != "" {
		if p.Layers, err = strconv.Atoi(v); err != nil || p.Layers < 2 {
			t.Fatalf("TABSHARD_FIDELITY_LAYERS %q: want 2 or more", v)
		}
	}
	start := time.Now()
	path := filepath.Join(t.TempDir(), "fidelity.gguf")
	kind := synth.WeightsRandom
	if os.Getenv("TABSHARD_FIDELITY_WEIGHTS") == "seeded" {
		kind = synth.WeightsSeeded
	}
	if _, err := synth.WritePreset(path, p, pol, kind, 11); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, ti := range m.File.Tensors {
		types[ti.Type.String()]++
	}
	t.Logf("%s, %d layers: %d MB, tensor types %v (written in %v)", spec, p.Layers, len(data)>>20, types, time.Since(start).Round(time.Second))
	pair := newPair(t, m, data, []int{p.Layers / 2}, Options{}, 64)
	t.Logf("stages loaded, CPU and GPU (%v)", time.Since(start).Round(time.Second))
	pair.generate(t, []int{1, 300, 301, 302, 303, 304, 305, 306}, 4)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestStageSeeded holds a stage whose weights the GPU generated to the CPU
// reference reading the same seeded file: Llama-3's layout at a small
// shape, Q4_0 (split rows) and Q6_K head, in two stages.
func TestStageSeeded(t *testing.T) {
	p, pol, err := preset.Parse("llama-3-8b:q4_0")
	if err != nil {
		t.Fatal(err)
	}
	p.Layers, p.Dim, p.FFNDim, p.Heads, p.KVHeads, p.Vocab, p.Context = 2, 256, 512, 4, 2, 300, 128
	var f synth.SparseFile // in memory: a browser has no file system
	if _, err := synth.WritePresetTo(&f, p, pol, synth.WeightsSeeded, 5); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, f.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Seeded(); !ok {
		t.Fatal("the file is not seeded")
	}
	newPair(t, m, data, []int{1}, Options{}, 64).generate(t, []int{1, 200, 201, 202, 203}, 8)
}
