package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/model/chattemplate"
	"github.com/tabshard/tabshard/model/gguf"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// llama2Template is Llama-2-chat's template in short: BOS, [INST] turns,
// EOS after each answer.
const llama2Template = "{% for m in messages %}{% if m.role == 'user' %}{{ bos_token }}[INST] {{ m.content }} [/INST]{% else %}{{ m.content }}{{ eos_token }}{% endif %}{% endfor %}"

// withChatTemplate writes the bundled model with tokenizer.chat_template
// set to src, and returns its path.
func withChatTemplate(t *testing.T, src string) string {
	t.Helper()
	data := bundled.Bytes()
	f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(chattemplate.MetadataKey, gguf.String(src)); err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		b, err := f.ReadTensor(bytes.NewReader(data), ti)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensorBytes(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "stories260K-chat.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChatTemplateReachesFirstStage: a chat completion of a model whose
// file carries a chat template sends the template's rendering, its BOS
// and EOS as the special tokens they name, to the first stage.
func TestChatTemplateReachesFirstStage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Coordinators: 1, Stages: 2, ModelPath: withChatTemplate(t, llama2Template), Seed: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	firstStage := make(chan *tabshardv1.Activation, 16)
	sub, err := bus.Subscribe(c.nc, bus.Subjects{Cluster: clusterName}.ActivationsFor(0), func() *tabshardv1.Activation { return new(tabshardv1.Activation) },
		func(a *tabshardv1.Activation, _ *nats.Msg) { firstStage <- a })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	body := `{"messages":[{"role":"user","content":"Once upon a time"},{"role":"assistant","content":"there was a cat."},{"role":"user","content":"Tell me more"}],"max_tokens":4,"temperature":0}`
	resp, err := http.Post(c.URLs()[0]+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   struct {
			PromptTokens int `json:"prompt_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}

	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	tok := m.Tokenizer
	// Each run of text between special tokens encodes on its own, as
	// llama.cpp's tokenizer does (an SPM run gets its " " prefix).
	text := func(s string) []int { return tok.Encode(s)[1:] }
	want := slices.Concat([]int{tok.BOS()}, text("[INST] Once upon a time [/INST]there was a cat."), []int{tok.EOS(), tok.BOS()}, text("[INST] Tell me more [/INST]"))
	select {
	case a := <-firstStage:
		var ids []int
		for _, id := range a.GetTokens() {
			ids = append(ids, int(id))
		}
		if !slices.Equal(ids, want) || a.GetFirstPosition() != 0 {
			t.Fatalf("first stage got positions from %d: %v\nwant the rendered prompt %v", a.GetFirstPosition(), ids, want)
		}
	case <-ctx.Done():
		t.Fatal("no activation reached the first stage")
	}
	if got.Usage.PromptTokens != len(want) {
		t.Errorf("usage.prompt_tokens = %d, want %d", got.Usage.PromptTokens, len(want))
	}
	if os.Getenv("E2E_VERBOSE") != "" {
		t.Logf("answer: %q", got.Choices[0].Message.Content)
	}
}
