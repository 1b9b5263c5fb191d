// Package chattemplate turns a chat conversation into a model's prompt
// with the Jinja template the model ships (GGUF key
// tokenizer.chat_template), rendered as Hugging Face transformers renders
// it: trim_blocks and lstrip_blocks on, bos_token, eos_token and
// add_generation_prompt set, raise_exception and strftime_now defined.
// The engine is github.com/ardanlabs/jinja, a Jinja implementation built
// for chat templates. A model without a template gets Fallback.
package chattemplate

import (
	"errors"
	"fmt"
	"time"

	"github.com/ardanlabs/jinja"
)

// MetadataKey is the GGUF key of a model's chat template.
const MetadataKey = "tokenizer.chat_template"

var (
	// ErrTemplate is a template the engine cannot compile.
	ErrTemplate = errors.New("chat template does not compile")
	// ErrConversation is a conversation the template refuses to render
	// (raise_exception: roles that do not alternate, a system message
	// where none is allowed, ...) or fails on.
	ErrConversation = errors.New("the model's chat template refused the conversation")
)

// Message is one message of a conversation.
type Message struct {
	Role    string
	Content string
}

// Template is a compiled chat template with the model's BOS and EOS
// token texts. It is safe for concurrent use.
type Template struct {
	tmpl     *jinja.Template
	bos, eos string
	err      error // why the template is unusable (see Unusable)
}

// Unusable is a template that fails every Render with err: a model's
// template that does not compile, so that chat requests say why while
// the model serves completions.
func Unusable(err error) *Template { return &Template{err: err} }

// Parse compiles src. bos and eos are the texts of the model's BOS and EOS
// tokens ("" when it has none).
func Parse(src, bos, eos string) (*Template, error) {
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return &Template{tmpl: t, bos: bos, eos: eos}, nil
}

// Render returns the prompt of messages; with addGenerationPrompt it ends
// with the header of the assistant's turn, which the model continues. now
// is the time strftime_now reports (Llama 3.2's "Today Date").
func (t *Template) Render(messages []Message, addGenerationPrompt bool, now time.Time) (string, error) {
	if t.err != nil {
		return "", t.err
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err := t.tmpl.RenderValues(map[string]jinja.Value{
		"messages":              jinja.FromGoValue(msgs),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		"strftime_now":          strftimeNow(now),
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrConversation, err)
	}
	return out, nil
}

// strftimeNow is the template function strftime_now(format) at now.
func strftimeNow(now time.Time) jinja.Value {
	return jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), fmt.Errorf("strftime_now takes one format string, got %d arguments", len(args))
		}
		s, err := strftime(now, args[0].AsString())
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(s), nil
	})
}

// FallbackSource is the template of a model that ships none: one
// "role: content" line per message and "assistant:" for the model to
// continue. No instruct model was trained on it; it suits base models
// such as the bundled stories260K.
const FallbackSource = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"

// Fallback returns the compiled FallbackSource.
func Fallback() *Template {
	t, err := Parse(FallbackSource, "", "")
	if err != nil {
		panic(err) // a constant that compiles
	}
	return t
}
