package preset_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
)

// TestParams holds the presets to the parameter counts their publishers
// state (model cards, safetensors index totals).
func TestParams(t *testing.T) {
	want := map[string]int64{
		"llama-3-8b":  8_030_261_248,
		"llama-3-70b": 70_553_706_496,
		"mistral-7b":  7_241_732_096,
		"qwen2-7b":    7_615_616_512,
		"qwen2-72b":   72_706_203_648,
		"qwen2-0.5b":  494_032_768,
	}
	for name, n := range want {
		p, err := preset.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, x := range p.Tensors() {
			e := int64(1)
			for _, d := range x.Dims {
				e *= int64(d)
			}
			got += e
		}
		if got != n {
			t.Errorf("%s: %d parameters, published %d", name, got, n)
		}
	}
}

// TestMetadataRoundTrip writes each preset's metadata to a GGUF header and
// reads the configuration back as model files are read.
func TestMetadataRoundTrip(t *testing.T) {
	for _, name := range preset.Names() {
		t.Run(name, func(t *testing.T) {
			p, _ := preset.Lookup(name)
			w := gguf.NewWriter()
			for _, kv := range p.Metadata() {
				if err := w.Add(kv.Key, kv.Value); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			if _, err := w.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := model.ConfigFromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			if want := p.Config(); !reflect.DeepEqual(got, want) {
				t.Fatalf("read back %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestStories260KMatchesBundled compares the small preset with the model
// file shipped in the repository, tensor by tensor.
func TestStories260KMatchesBundled(t *testing.T) {
	m, err := model.Open("../bundled/stories260K.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, _ := preset.Lookup("stories260k")
	if !reflect.DeepEqual(m.Config, p.Config()) {
		t.Fatalf("bundled config %+v\npreset %+v", m.Config, p.Config())
	}
	want := map[string][]uint64{}
	for _, ti := range m.File.Tensors {
		want[ti.Name] = ti.Dims
	}
	got := p.Tensors()
	if len(got) != len(want) {
		t.Fatalf("%d tensors, bundled file has %d", len(got), len(want))
	}
	for _, x := range got {
		if !reflect.DeepEqual(want[x.Name], x.Dims) {
			t.Errorf("%s: dims %v, bundled %v", x.Name, x.Dims, want[x.Name])
		}
	}
}

func TestTensorOrderAndRoles(t *testing.T) {
	p, _ := preset.Lookup("qwen2-7b")
	ts := p.Tensors()
	if ts[0].Name != "token_embd.weight" || ts[0].Role != quantize.RoleEmbedding || ts[len(ts)-1].Name != "output.weight" {
		t.Fatalf("order: first %s, last %s", ts[0].Name, ts[len(ts)-1].Name)
	}
	if len(ts) != 3+28*12 {
		t.Fatalf("%d tensors, want %d (qwen2 has Q/K/V biases)", len(ts), 3+28*12)
	}
	tied, _ := preset.Lookup("qwen2-0.5b")
	if last := tied.Tensors()[len(tied.Tensors())-1]; last.Name != "output_norm.weight" {
		t.Fatalf("tied model ends with %s", last.Name)
	}
}

func TestTypedFallbackNotes(t *testing.T) {
	p, pol, err := preset.Parse("qwen2-72b:q4_k")
	if err != nil {
		t.Fatal(err)
	}
	ts, notes := p.Typed(pol)
	if len(notes) != 1 {
		t.Fatalf("notes %q, want one for blk.*.ffn_down", notes)
	}
	for _, x := range ts {
		switch {
		case x.Name == "blk.0.ffn_down.weight" && x.Type != kernels.Q4_0:
			t.Errorf("%s: %s, want the Q4_0 fallback (29568 is not whole 256-blocks)", x.Name, x.Type)
		case x.Name == "blk.0.ffn_up.weight" && x.Type != kernels.Q4_K:
			t.Errorf("%s: %s", x.Name, x.Type)
		case x.Role == quantize.RoleNorm && x.Type != kernels.F32:
			t.Errorf("%s: %s, norms and biases stay F32", x.Name, x.Type)
		}
	}
}

func TestParseErrors(t *testing.T) {
	if _, _, err := preset.Parse("llama-4-2t"); !errors.Is(err, preset.ErrUnknown) {
		t.Errorf("unknown preset: %v", err)
	}
	if _, _, err := preset.Parse("llama-3-8b:q9_z"); !errors.Is(err, quantize.ErrPolicy) {
		t.Errorf("unknown policy: %v", err)
	}
	p, pol, err := preset.Parse("LLAMA-3-8B")
	if err != nil || p.Name != "llama-3-8b" || pol.Name != preset.DefaultPolicy {
		t.Errorf("default policy: %v %v %v", p, pol, err)
	}
}

// Every preset writes metadata llama.cpp loads: an architecture it knows
// (its converter writes Mistral as "llama") and no rope-scaling type it
// would abort on ("llama3" is read, never written: llama.cpp takes
// Llama-3.1's scaling from a rope_freqs tensor).
func TestMetadataLlamaCppLoads(t *testing.T) {
	llamaCpp := map[string]bool{"llama": true, "qwen2": true}
	for _, name := range preset.Names() {
		p, _ := preset.Lookup(name)
		md := p.Metadata()
		arch, _ := md[0].Value.AsString()
		if md[0].Key != "general.architecture" || !llamaCpp[arch] {
			t.Errorf("%s: %s = %s, not an architecture llama.cpp's converter writes", name, md[0].Key, arch)
		}
		for _, kv := range md {
			if strings.Contains(kv.Key, "rope.scaling.type") {
				t.Errorf("%s writes %s", name, kv.Key)
			}
		}
	}
}
