package chattemplate_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/chattemplate"
)

// goldenDate is the date the goldens were rendered at (TEST_DATE of
// llama.cpp's scripts/update_jinja_goldens.py).
var goldenDate = time.Date(2024, 7, 26, 0, 0, 0, 0, time.UTC)

// conversation is a tests/chat/contexts/*.json file of llama.cpp.
type conversation struct {
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	AddGenerationPrompt bool   `json:"add_generation_prompt"`
	BOS                 string `json:"bos_token"`
	EOS                 string `json:"eos_token"`
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The published templates of Llama-3.1/3.2, Qwen2/2.5, Phi-3 and Mistral
// render each conversation to what Python's Jinja2 rendered (see
// testdata/README.md).
func TestPublishedTemplatesRenderGoldens(t *testing.T) {
	models := []string{
		"meta-llama-Meta-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct",
		"Qwen-Qwen2-7B-Instruct", "Qwen-Qwen2.5-7B-Instruct",
		"microsoft-Phi-3-mini-4k-instruct", "mistralai-Mistral-7B-Instruct-v0.2",
	}
	for _, model := range models {
		for _, ctx := range []string{"simple", "system"} {
			t.Run(model+"/"+ctx, func(t *testing.T) {
				var c conversation
				if err := json.Unmarshal(read(t, ctx+".json"), &c); err != nil {
					t.Fatal(err)
				}
				tmpl, err := chattemplate.Parse(string(read(t, model+".jinja")), c.BOS, c.EOS)
				if err != nil {
					t.Fatal(err)
				}
				var msgs []chattemplate.Message
				for _, m := range c.Messages {
					msgs = append(msgs, chattemplate.Message{Role: m.Role, Content: m.Content})
				}
				got, err := tmpl.Render(msgs, c.AddGenerationPrompt, goldenDate)
				if err != nil {
					t.Fatal(err)
				}
				if want := string(read(t, model+"-"+ctx+".txt")); got != want {
					t.Errorf("rendered\n%q\nwant\n%q", got, want)
				}
			})
		}
	}
}

// Mistral's template refuses a conversation whose roles do not alternate.
func TestTemplateRefusal(t *testing.T) {
	tmpl, err := chattemplate.Parse(string(read(t, "mistralai-Mistral-7B-Instruct-v0.2.jinja")), "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render([]chattemplate.Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}, true, goldenDate)
	if !errors.Is(err, chattemplate.ErrConversation) {
		t.Fatalf("two user messages in a row: %v, want ErrConversation", err)
	}
}

func TestParseRefusesBrokenTemplate(t *testing.T) {
	if _, err := chattemplate.Parse("{% for m in messages %}{{ m.role }", "", ""); !errors.Is(err, chattemplate.ErrTemplate) {
		t.Fatalf("unterminated template: %v, want ErrTemplate", err)
	}
}

func TestAddGenerationPrompt(t *testing.T) {
	tmpl, err := chattemplate.Parse(string(read(t, "Qwen-Qwen2-7B-Instruct.jinja")), "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []chattemplate.Message{{Role: "user", Content: "Hi"}}
	with, _ := tmpl.Render(msgs, true, goldenDate)
	without, _ := tmpl.Render(msgs, false, goldenDate)
	const header = "<|im_start|>assistant\n"
	if with != without+header {
		t.Fatalf("with add_generation_prompt %q, without %q: want the difference %q", with, without, header)
	}
}

func TestStrftimeNow(t *testing.T) {
	tmpl, err := chattemplate.Parse(`{{ strftime_now("%d %b %Y, %A %H:%M:%S 100%%") }}`, "", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(nil, false, time.Date(2026, 12, 7, 17, 4, 5, 0, time.UTC))
	if err != nil || got != "07 Dec 2026, Monday 17:04:05 100%" {
		t.Fatalf("strftime_now = %q, %v", got, err)
	}
	bad, _ := chattemplate.Parse(`{{ strftime_now("%Q") }}`, "", "")
	if _, err := bad.Render(nil, false, goldenDate); !errors.Is(err, chattemplate.ErrConversation) {
		t.Fatalf("unknown directive: %v", err)
	}
}

func TestFallback(t *testing.T) {
	got, err := chattemplate.Fallback().Render([]chattemplate.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}}, true, goldenDate)
	if want := "system: Be brief.\nuser: Hi\nassistant:"; err != nil || got != want {
		t.Fatalf("fallback = %q, %v; want %q", got, err, want)
	}
}

func TestRenderBoundedInTime(t *testing.T) {
	// A template that loops for long (about a second on a fast machine,
	// far longer than the limit on any).
	tmpl, err := chattemplate.Parse("{% for i in range(3000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}done", "", "")
	if err != nil {
		t.Fatal(err)
	}
	slow := tmpl.WithLimit(20 * time.Millisecond)
	msgs := []chattemplate.Message{{Role: "user", Content: "hi"}}
	if _, err := slow.Render(msgs, true, time.Unix(0, 0)); !errors.Is(err, chattemplate.ErrTooSlow) {
		t.Fatalf("a long render: err %v, want ErrTooSlow", err)
	}
	if _, err := slow.Render(msgs, true, time.Unix(0, 0)); !errors.Is(err, chattemplate.ErrTooSlow) {
		t.Errorf("after a runaway render: err %v, want ErrTooSlow at once", err)
	}
	fast, err := chattemplate.Parse("{{ messages[0].content }}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := fast.Render(msgs, true, time.Unix(0, 0)); err != nil || out != "hi" {
		t.Errorf("a quick render: %q, %v", out, err)
	}
}
