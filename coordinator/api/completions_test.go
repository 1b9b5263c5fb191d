package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/model/chattemplate"
)

const (
	storyPrompt = "Once upon a time"
	storyRest   = ", there was a little girl named Lily. She liked to play."
)

// continuation scripts the tokens that continue prompt with rest (then
// EOS) and returns the completion text the server must answer: the text
// of prompt+rest less the text of prompt.
func continuation(t *testing.T, b *fakeBackend, prompt, rest string) string {
	t.Helper()
	tok := storiesTokenizer(t)
	full, head := tok.Encode(prompt+rest), tok.Encode(prompt)
	if !slices.Equal(full[:len(head)], head) {
		t.Fatalf("tokens of %q do not start with those of %q", prompt+rest, prompt)
	}
	b.script = append(slices.Clone(full[len(head):]), tok.EOS())
	want, ok := strings.CutPrefix(tok.Decode(full), tok.Decode(head))
	if !ok || want != rest {
		t.Fatalf("decoded continuation %q, want %q", want, rest)
	}
	return want
}

type completionResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Text         string `json:"text"`
		Index        int    `json:"index"`
		Logprobs     any    `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
		Message      *struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestCompletion(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, storyPrompt, storyRest)
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":40,"temperature":0,"top_p":0.9,"seed":42}`)
	var got completionResponse
	readJSON(t, resp, http.StatusOK, &got)

	if got.ID != "cmpl-s1" || got.Object != "text_completion" || got.Model != modelName || got.Created == 0 {
		t.Errorf("header fields: %+v", got)
	}
	if sid := resp.Header.Get("X-Tabshard-Session"); sid != "s1" {
		t.Errorf("X-Tabshard-Session = %q", sid)
	}
	c := got.Choices[0]
	if len(got.Choices) != 1 || c.Text != want || c.FinishReason != "stop" || c.Logprobs != nil || c.Index != 0 {
		t.Errorf("choice = %+v, want text %q", c, want)
	}
	prompt := storiesTokenizer(t).Encode(storyPrompt)
	u := got.Usage
	if u.PromptTokens != len(prompt) || u.CompletionTokens != len(e.b.script) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v; prompt %d, generated %d", u, len(prompt), len(e.b.script))
	}
	req := e.b.lastRequest(t)
	wantReq := api.SessionRequest{Model: modelName, Prompt: prompt, MaxTokens: 40, Temperature: 0, TopP: 0.9, Seed: 42}
	if !slices.Equal(req.Prompt, wantReq.Prompt) || req.Model != wantReq.Model || req.MaxTokens != 40 ||
		req.Temperature != 0 || req.TopP != 0.9 || req.Seed != 42 {
		t.Errorf("session request = %+v, want %+v", req, wantReq)
	}
}

// A prompt of token ids goes to the session as given; ignore_eos reaches
// the backend.
func TestCompletionTokenPrompt(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	var got completionResponse
	readJSON(t, e.post(t, "/v1/completions", `{"model":"stories260K","prompt":[1,403,407,511],"max_tokens":5,"ignore_eos":true}`), http.StatusOK, &got)
	req := e.b.lastRequest(t)
	if !slices.Equal(req.Prompt, []int{1, 403, 407, 511}) || !req.IgnoreEOS || got.Usage.PromptTokens != 4 {
		t.Errorf("session request %+v, usage %+v", req, got.Usage)
	}
	readJSON(t, e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"x"}`), http.StatusOK, &got)
	if e.b.lastRequest(t).IgnoreEOS {
		t.Error("ignore_eos set without being asked for")
	}
}

func TestCompletionDefaults(t *testing.T) {
	e := newEnv(t)
	e.b.models[0].ContextLength = 64
	continuation(t, e.b, storyPrompt, storyRest)
	var seeds []uint64
	for _, prompt := range []string{`"Once upon a time"`, `["Once upon a time"]`} {
		var got completionResponse
		readJSON(t, e.post(t, "/v1/completions", `{"model":"stories260K","prompt":`+prompt+`}`), http.StatusOK, &got)
		req := e.b.lastRequest(t)
		if req.Temperature != 1 || req.TopP != 1 {
			t.Errorf("temperature %v top_p %v, want 1 and 1", req.Temperature, req.TopP)
		}
		if room := 64 - len(req.Prompt); req.MaxTokens != room {
			t.Errorf("max_tokens = %d, want the default 128 cut to the context's room %d", req.MaxTokens, room)
		}
		seeds = append(seeds, req.Seed)
	}
	if seeds[0] == seeds[1] {
		t.Errorf("two requests without a seed got the same seed %d", seeds[0])
	}
}

func TestChatCompletion(t *testing.T) {
	e := newEnv(t)
	prompt := "system: Tell stories.\nuser: Tell me one.\nassistant:"
	want := continuation(t, e.b, prompt, " Once upon a time, there was a cat.")
	body := `{"model":"stories260K","messages":[{"role":"system","content":"Tell stories."},
		{"role":"user","content":[{"type":"text","text":"Tell me "},{"type":"text","text":"one."}]}],"max_completion_tokens":30}`
	var got completionResponse
	readJSON(t, e.post(t, "/v1/chat/completions", body), http.StatusOK, &got)
	if got.ID != "chatcmpl-s1" || got.Object != "chat.completion" {
		t.Errorf("id %q object %q", got.ID, got.Object)
	}
	m := got.Choices[0].Message
	if m == nil || m.Role != "assistant" || m.Content != want || got.Choices[0].FinishReason != "stop" {
		t.Errorf("choice = %+v, want content %q", got.Choices[0], want)
	}
	req := e.b.lastRequest(t)
	if !slices.Equal(req.Prompt, storiesTokenizer(t).Encode(prompt)) || req.MaxTokens != 30 {
		t.Errorf("session request %+v, want the prompt %q and 30 tokens", req, prompt)
	}
}

func TestCompletionValidation(t *testing.T) {
	e := newEnv(t)
	e.b.models[0].ContextLength = 32
	cases := []struct {
		name, path, body string
		status           int
		param, code      string
	}{
		{"malformed JSON", "/v1/completions", `{"model":`, 400, "", ""},
		{"not an object", "/v1/completions", `[1,2]`, 400, "", ""},
		{"no model and no prompt", "/v1/completions", `{"max_tokens":3}`, 400, "prompt", ""},
		{"unknown model", "/v1/completions", `{"model":"gpt-9","prompt":"x"}`, 400, "model", "model_not_found"},
		{"empty prompt", "/v1/completions", `{"model":"stories260K","prompt":""}`, 400, "prompt", ""},
		{"no prompt", "/v1/completions", `{"model":"stories260K"}`, 400, "prompt", ""},
		{"two prompts", "/v1/completions", `{"model":"stories260K","prompt":["a","b"]}`, 400, "prompt", ""},
		{"token past the vocabulary", "/v1/completions", `{"model":"stories260K","prompt":[1,512]}`, 400, "prompt", ""},
		{"negative token", "/v1/completions", `{"model":"stories260K","prompt":[1,-2]}`, 400, "prompt", ""},
		{"empty token array", "/v1/completions", `{"model":"stories260K","prompt":[]}`, 400, "prompt", ""},
		{"mixed array", "/v1/completions", `{"model":"stories260K","prompt":[1,"a"]}`, 400, "prompt", ""},
		{"max_tokens 0", "/v1/completions", `{"model":"stories260K","prompt":"x","max_tokens":0}`, 400, "max_tokens", ""},
		{"past context", "/v1/completions", `{"model":"stories260K","prompt":"x","max_tokens":31}`, 400, "max_tokens", ""},
		{"prompt fills context", "/v1/completions", `{"model":"stories260K","prompt":"` + strings.Repeat("x y ", 40) + `"}`, 400, "prompt", ""},
		{"negative temperature", "/v1/completions", `{"model":"stories260K","prompt":"x","temperature":-0.5}`, 400, "temperature", ""},
		{"temperature string", "/v1/completions", `{"model":"stories260K","prompt":"x","temperature":"hot"}`, 400, "temperature", ""},
		{"temperature 1e9", "/v1/completions", `{"model":"stories260K","prompt":"x","temperature":1e9}`, 400, "temperature", ""},
		{"temperature above 2", "/v1/completions", `{"model":"stories260K","prompt":"x","temperature":2.01}`, 400, "temperature", ""},
		{"temperature past float64", "/v1/completions", `{"model":"stories260K","prompt":"x","temperature":1e999}`, 400, "temperature", ""},
		{"top_p past float64", "/v1/completions", `{"model":"stories260K","prompt":"x","top_p":-1e999}`, 400, "top_p", ""},
		{"top_p above 1", "/v1/completions", `{"model":"stories260K","prompt":"x","top_p":1.5}`, 400, "top_p", ""},
		{"top_p below 0", "/v1/completions", `{"model":"stories260K","prompt":"x","top_p":-0.1}`, 400, "top_p", ""},
		{"n 2", "/v1/completions", `{"model":"stories260K","prompt":"x","n":2}`, 400, "n", ""},
		{"no messages", "/v1/chat/completions", `{"model":"stories260K","messages":[]}`, 400, "messages", ""},
		{"bad role", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"wizard","content":"x"}]}`, 400, "messages[0].role", ""},
		{"image part", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "messages[0].content", ""},
		{"chat fills context", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"` + strings.Repeat("x y ", 40) + `"}]}`, 400, "messages", ""},
		{"chat max_tokens", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-1}`, 400, "max_completion_tokens", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got openAIError
			readJSON(t, e.post(t, c.path, c.body), c.status, &got)
			if got.param() != c.param || got.code() != c.code || got.Error.Type != "invalid_request_error" || got.Error.Message == "" {
				t.Errorf("error = %+v (param %q code %q), want param %q code %q", got.Error, got.param(), got.code(), c.param, c.code)
			}
		})
	}
	if len(e.b.requests) != 0 {
		t.Errorf("invalid requests started %d sessions", len(e.b.requests))
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	big := `{"model":"stories260K","prompt":"` + strings.Repeat("a", api.DefaultMaxBodyBytes) + `"}`
	var got openAIError
	readJSON(t, e.post(t, "/v1/completions", big), http.StatusRequestEntityTooLarge, &got)
	if got.code() != "request_too_large" || got.Error.Type != "invalid_request_error" {
		t.Errorf("error = %+v", got.Error)
	}
}

func TestBackendErrors(t *testing.T) {
	cases := []struct {
		err    error
		status int
		typ    string
	}{
		{fmt.Errorf("%w: no leader", api.ErrUnavailable), 503, "server_error"},
		{fmt.Errorf("%w: prompt too odd", api.ErrBadRequest), 400, "invalid_request_error"},
		{fmt.Errorf("%w: gone", api.ErrUnknownModel), 400, "invalid_request_error"},
		{fmt.Errorf("disk on fire"), 500, "server_error"},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			e := newEnv(t)
			e.b.startErr = c.err
			resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"x"}`)
			var got openAIError
			readJSON(t, resp, c.status, &got)
			if got.Error.Type != c.typ || !strings.Contains(got.Error.Message, c.err.Error()) {
				t.Errorf("error = %+v", got.Error)
			}
			if c.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestFailedGeneration(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.finish = "stage 2 lost and no standby"
	var got openAIError
	readJSON(t, e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time"}`), 500, &got)
	if got.code() != "generation_failed" || !strings.Contains(got.Error.Message, e.b.finish) {
		t.Errorf("error = %+v", got.Error)
	}

	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	evs := newSSEReader(resp.Body).all(t)
	last := evs[len(evs)-2]
	if evs[len(evs)-1].Data != "[DONE]" || last.ID != strconv.Itoa(len(e.b.script)) || !strings.Contains(last.Data, `"generation_failed"`) {
		t.Errorf("stream ends with %v", evs[len(evs)-2:])
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/model/", 404, ""},
		{"GET", "/v1/completions", 405, "POST"},
		{"PUT", "/v1/chat/completions", 405, "POST"},
		{"POST", "/v1/models", 405, "GET, HEAD"},
		{"DELETE", "/model/stories260K", 405, "GET, HEAD"},
		{"POST", "/v1/sessions/s1/events", 405, "GET"},
		{"POST", "/metrics", 405, "GET, HEAD"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp := e.do(t, c.method, c.path, "")
			var got openAIError
			readJSON(t, resp, c.status, &got)
			if got.Error.Message == "" || resp.Header.Get("Allow") != c.allow {
				t.Errorf("error %+v, Allow %q", got.Error, resp.Header.Get("Allow"))
			}
		})
	}
}

// A request that names no model gets the one model served.
func TestCompletionDefaultModel(t *testing.T) {
	e := newEnv(t)
	var got completionResponse
	readJSON(t, e.post(t, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":3,"temperature":0}`), http.StatusOK, &got)
	if got.Model != "stories260K" {
		t.Fatalf("model %q", got.Model)
	}
}

// Tiny temperatures reach the sampler as the smallest float32s (which it
// handles as their limit, greedy); top_p 0 is greedy.
func TestSamplingEdges(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	cases := []struct {
		body        string
		temperature float32
	}{
		{`"temperature":1e-45`, 1e-45},
		{`"temperature":1e-38`, 1e-38},
		{`"temperature":1e-50`, 0},
		{`"temperature":2`, 2},
		{`"temperature":0.8,"top_p":0`, 0},
	}
	for _, c := range cases {
		var got completionResponse
		readJSON(t, e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time",`+c.body+`}`), http.StatusOK, &got)
		if req := e.b.lastRequest(t); req.Temperature != c.temperature {
			t.Errorf("%s: temperature %g, want %g", c.body, req.Temperature, c.temperature)
		}
	}
}

// A model's chat template renders the conversation; the special tokens
// it writes are parsed as such, and a conversation it refuses is a 400.
func TestChatTemplate(t *testing.T) {
	e := newEnv(t)
	const src = "{% for m in messages %}{% if m.role == 'system' and not loop.first %}{{ raise_exception('system first only') }}{% endif %}" +
		"{{ bos_token }}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
	tok := storiesTokenizer(t)
	tmpl, err := chattemplate.Parse(src, tok.Token(tok.BOS()), tok.Token(tok.EOS()))
	if err != nil {
		t.Fatal(err)
	}
	e.b.tok = api.WrapTokenizer(tok, tmpl)
	continuation(t, e.b, "x", " y")
	body := `{"messages":[{"role":"developer","content":"Be kind."},{"role":"user","content":"Hi"}],"max_tokens":2}`
	readJSON(t, e.post(t, "/v1/chat/completions", body), http.StatusOK, &completionResponse{})
	want := slices.Concat(tok.Encode("<system>Be kind."), []int{tok.EOS(), tok.BOS()}, tok.Encode("<user>Hi")[1:], []int{tok.EOS()}, tok.Encode("<assistant>")[1:])
	if got := e.b.lastRequest(t).Prompt; !slices.Equal(got, want) {
		t.Errorf("prompt %v\nwant %v", got, want)
	}
	var refusal openAIError
	body = `{"messages":[{"role":"user","content":"Hi"},{"role":"system","content":"late"}]}`
	readJSON(t, e.post(t, "/v1/chat/completions", body), http.StatusBadRequest, &refusal)
	if refusal.param() != "messages" || !strings.Contains(refusal.Error.Message, "system first only") {
		t.Errorf("refusal = %+v", refusal.Error)
	}
	e.b.tok = api.WrapTokenizer(tok, chattemplate.Unusable(chattemplate.ErrTemplate))
	readJSON(t, e.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}]}`), http.StatusInternalServerError, &refusal)
	if !strings.Contains(refusal.Error.Message, "chat template") {
		t.Errorf("unusable template: %+v", refusal.Error)
	}
}
