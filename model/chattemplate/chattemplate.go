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
	"sync/atomic"
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
	// ErrTooSlow is a template that did not render within RenderLimit:
	// the engine has no step bound, so a template (the model file's) can
	// loop for a long time. The template is unusable from then on.
	ErrTooSlow = errors.New("the model's chat template did not render in time")
)

// RenderLimit bounds one Render. A render that runs past it keeps running
// on its goroutine (the engine cannot be interrupted) but the template
// refuses every later Render, so a runaway template costs one goroutine,
// not one per request.
const RenderLimit = 2 * time.Second

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
	limit    time.Duration
	runaway  atomic.Bool // a render ran past limit
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
	return &Template{tmpl: t, bos: bos, eos: eos, limit: RenderLimit}, nil
}

// WithLimit returns a copy of t whose renders are bounded by limit
// instead of RenderLimit.
func (t *Template) WithLimit(limit time.Duration) *Template {
	return &Template{tmpl: t.tmpl, bos: t.bos, eos: t.eos, err: t.err, limit: limit}
}

// Render returns the prompt of messages; with addGenerationPrompt it ends
// with the header of the assistant's turn, which the model continues. now
// is the time strftime_now reports (Llama 3.2's "Today Date").
func (t *Template) Render(messages []Message, addGenerationPrompt bool, now time.Time) (string, error) {
	switch {
	case t.err != nil:
		return "", t.err
	case t.runaway.Load():
		return "", fmt.Errorf("%w: an earlier render ran past %v", ErrTooSlow, t.limit)
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	vars := map[string]jinja.Value{
		"messages":              jinja.FromGoValue(msgs),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		"strftime_now":          strftimeNow(now),
	}
	type rendered struct {
		out string
		err error
	}
	done := make(chan rendered, 1) // buffered: a runaway render's send never blocks
	go func() {
		out, err := t.tmpl.RenderValues(vars)
		done <- rendered{out, err}
	}()
	timer := time.NewTimer(t.limit)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("%w: %v", ErrConversation, r.err)
		}
		return r.out, nil
	case <-timer.C:
		t.runaway.Store(true)
		return "", fmt.Errorf("%w: still rendering after %v", ErrTooSlow, t.limit)
	}
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
