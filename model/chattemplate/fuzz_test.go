package chattemplate_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/chattemplate"
)

// FuzzTemplate: a GGUF file's chat template is untrusted text. Whatever it
// says, parsing and rendering it return a template or an error, never
// panic, and a conversation's text reaches the template as data.
func FuzzTemplate(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.jinja"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b), "{{ raise_exception('x') }}")
		}
	}
	f.Add("{% for m in messages %}{{ m['content'] | upper }}{% endfor %}", "{{")
	f.Add("{{ messages[0].content[::-1] }}{% if add_generation_prompt %}>{% endif %}", "{% endfor %}")
	f.Fuzz(func(t *testing.T, src, content string) {
		tmpl, err := chattemplate.Parse(src, "<s>", "</s>")
		if err != nil {
			return
		}
		msgs := []chattemplate.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: content}}
		_, _ = tmpl.Render(msgs, true, time.Unix(0, 0))
	})
}
