package synth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

// A zero-weight preset file has the preset's exact tensor list, types and
// byte counts, and a header the model package accepts.
func TestWritePresetZero(t *testing.T) {
	p, pol, err := preset.Parse("llama-3-8b:q4_k")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l8.gguf")
	if _, err := synth.WritePreset(path, p, pol, synth.WeightsZero, 1); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	typed, _ := p.Typed(pol)
	if len(typed) != len(m.File.Tensors) {
		t.Fatalf("%d tensors, preset has %d", len(m.File.Tensors), len(typed))
	}
	for i, want := range typed {
		got := m.File.Tensors[i]
		rb, _ := want.Type.RowBytes(int64(want.Dims[0]))
		if got.Name != want.Name || got.Type != want.Type || got.Size != rb*got.Rows() {
			t.Fatalf("tensor %d: %s %s %d bytes, preset %s %s", i, got.Name, got.Type, got.Size, want.Name, want.Type)
		}
	}
	if *m.Config != *p.Config() {
		t.Fatalf("config %+v\npreset %+v", m.Config, p.Config())
	}
}

// Random weights in a quantized type generate text.
func TestWritePresetRandomRuns(t *testing.T) {
	p, _ := preset.Lookup("stories260k")
	pol, _ := quantize.Parse("q8_0")
	path := filepath.Join(t.TempDir(), "s.gguf")
	if _, err := synth.WritePreset(path, p, pol, synth.WeightsRandom, 7); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pl, err := worker.Load(m, 16)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = worker.Generate(context.Background(), pl, worker.GenerateConfig{Prompt: []int{1}, Steps: 16, Sampler: worker.NewSampler(0, 0, 1), BOS: -1},
		func(worker.Event) error { n++; return nil })
	if err != nil || n != 16 {
		t.Fatalf("generated %d tokens: %v", n, err)
	}
	if _, err := synth.ParseWeights("ones"); !errors.Is(err, synth.ErrBadSpec) {
		t.Fatalf("bad weights kind: %v", err)
	}
}

// A seeded 70B file in memory keeps its header only, and reads back as
// the file on disk does.
func TestSparseFile(t *testing.T) {
	p, pol, err := preset.Parse("llama-3-70b:q4_0")
	if err != nil {
		t.Fatal(err)
	}
	var f synth.SparseFile
	if _, err := synth.WritePresetTo(&f, p, pol, synth.WeightsSeeded, 3); err != nil {
		t.Fatal(err)
	}
	if f.Size() < 39e9 {
		t.Fatalf("size %d, want the whole 70B file", f.Size())
	}
	m, err := model.Load(&f, f.Size())
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := m.Seeded(); !ok || s != 3 || m.Config.Layers != 80 {
		t.Fatalf("seed %d %v, %d layers", s, ok, m.Config.Layers)
	}
	path := filepath.Join(t.TempDir(), "small.gguf")
	small, _ := preset.Lookup("stories260k")
	q8, _ := quantize.Parse("q8_0")
	if _, err := synth.WritePreset(path, small, q8, synth.WeightsRandom, 5); err != nil {
		t.Fatal(err)
	}
	var g synth.SparseFile
	if _, err := synth.WritePresetTo(&g, small, q8, synth.WeightsRandom, 5); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, g.Size())
	if n, err := g.ReadAt(got, 0); n != len(got) || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), equal to the file: %v", n, err, bytes.Equal(got, want))
	}
	part := make([]byte, 100)
	if n, err := g.ReadAt(part, g.Size()-40); n != 40 || err != io.EOF || !bytes.Equal(part[:40], want[len(want)-40:]) {
		t.Fatalf("read past the end: %d, %v", n, err)
	}
}
