package model_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
)

// fileWith writes a header-only GGUF holding kv and reads it back.
func fileWith(t *testing.T, kv map[string]gguf.Value) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for k, v := range kv {
		if err := w.Add(k, v); err != nil {
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
	return f
}

// base is a valid llama-family header for arch, with extra keys merged in.
func base(arch string, extra map[string]gguf.Value) map[string]gguf.Value {
	kv := map[string]gguf.Value{
		"general.architecture":                     gguf.String(arch),
		arch + ".block_count":                      gguf.Uint32(32),
		arch + ".embedding_length":                 gguf.Uint32(4096),
		arch + ".feed_forward_length":              gguf.Uint32(14336),
		arch + ".attention.head_count":             gguf.Uint32(32),
		arch + ".attention.head_count_kv":          gguf.Uint32(8),
		arch + ".context_length":                   gguf.Uint32(8192),
		arch + ".attention.layer_norm_rms_epsilon": gguf.Float32(1e-5),
		arch + ".vocab_size":                       gguf.Uint32(128256),
	}
	for k, v := range extra {
		kv[k] = v
	}
	return kv
}

func TestConfigArchitectures(t *testing.T) {
	cases := []struct {
		name  string
		kv    map[string]gguf.Value
		check func(t *testing.T, c *model.Config)
	}{
		{"llama3 with rope scaling", base("llama", map[string]gguf.Value{
			"llama.rope.freq_base":    gguf.Float32(500000),
			"llama.rope.scaling.type": gguf.String("llama3"),
		}), func(t *testing.T, c *model.Config) {
			if c.Arch != model.ArchLlama || c.RopeStyle != model.RopeNormal || c.HeadDim != 128 || c.KVDim() != 1024 {
				t.Fatalf("%+v", c)
			}
			if s := c.RopeScaling; s == nil || s.Factor != 8 || s.LowFreqFactor != 1 || s.HighFreqFactor != 4 || s.OriginalContextLength != 8192 {
				t.Fatalf("rope scaling %+v", s)
			}
		}},
		{"mistral sliding window", base("mistral", map[string]gguf.Value{
			"mistral.attention.sliding_window": gguf.Uint32(4096),
		}), func(t *testing.T, c *model.Config) {
			if c.Arch != model.ArchMistral || c.SlidingWindow != 4096 || c.QKVBias {
				t.Fatalf("%+v", c)
			}
		}},
		{"qwen2 bias and neox", base("qwen2", map[string]gguf.Value{
			"qwen2.rope.freq_base": gguf.Float32(1e6),
		}), func(t *testing.T, c *model.Config) {
			if c.Arch != model.ArchQwen2 || c.RopeStyle != model.RopeNeoX || !c.QKVBias || c.RopeBase != 1e6 {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := model.ConfigFromGGUF(fileWith(t, tc.kv))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestConfigRejects(t *testing.T) {
	cases := []struct {
		name string
		kv   map[string]gguf.Value
		is   error
		want string
	}{
		{"unknown architecture", base("gptj", nil), model.ErrUnknownArch, `"gptj"`},
		{"no architecture", map[string]gguf.Value{}, gguf.ErrMissingKey, "general.architecture"},
		{"missing block count", func() map[string]gguf.Value {
			kv := base("llama", nil)
			delete(kv, "llama.block_count")
			return kv
		}(), gguf.ErrMissingKey, "llama.block_count"},
		{"heads not a multiple of kv heads", base("llama", map[string]gguf.Value{"llama.attention.head_count_kv": gguf.Uint32(5)}), model.ErrBadConfig, "multiple"},
		{"wrong key type", base("llama", map[string]gguf.Value{"llama.block_count": gguf.String("32")}), gguf.ErrKeyType, "llama.block_count"},
		{"zero context", base("llama", map[string]gguf.Value{"llama.context_length": gguf.Uint32(0)}), model.ErrBadConfig, "context_length"},
		{"odd head dim", base("llama", map[string]gguf.Value{"llama.embedding_length": gguf.Uint32(32 * 3)}), model.ErrBadConfig, "head dimension"},
		{"negative sliding window", base("mistral", map[string]gguf.Value{"mistral.attention.sliding_window": gguf.Int32(-1)}), nil, "sliding_window"},
		{"bad rope scaling", base("llama", map[string]gguf.Value{"llama.rope.scaling.type": gguf.String("llama3"), "llama.rope.scaling.factor": gguf.Float32(0.5)}), model.ErrBadConfig, "rope scaling"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.ConfigFromGGUF(fileWith(t, tc.kv))
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
