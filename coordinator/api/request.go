package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/tabshard/tabshard/model/chattemplate"
)

// samplingFields are the request fields both completion endpoints share.
// A field the server does not implement (tools, response_format, best_of,
// suffix, ...) is refused with 400, never ignored.
type samplingFields struct {
	Model               string   `json:"model"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
	TopP                *float64 `json:"top_p"`
	N                   *int     `json:"n"`
	Seed                *int64   `json:"seed"`
	Stream              bool     `json:"stream"`
	// IgnoreEOS (an extension, as vLLM has it) generates max_tokens tokens
	// whatever they are: for measuring.
	IgnoreEOS        bool      `json:"ignore_eos"`
	Stop             stopField `json:"stop"`
	PresencePenalty  *float64  `json:"presence_penalty"`
	FrequencyPenalty *float64  `json:"frequency_penalty"`
	// RepetitionPenalty (an extension, as vLLM and llama.cpp's
	// repeat_penalty have it) divides positive logits of recent tokens
	// and multiplies negative ones.
	RepetitionPenalty *float64           `json:"repetition_penalty"`
	LogitBias         map[string]float64 `json:"logit_bias"`
	StreamOptions     *streamOptions     `json:"stream_options"`
	// User identifies the end user to the operator; it changes nothing.
	User string `json:"user"`
}

// streamOptions are the options of a streamed answer.
type streamOptions struct {
	// IncludeUsage adds a last chunk with the usage and no choices.
	IncludeUsage bool `json:"include_usage"`
}

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	samplingFields
	Prompt promptField `json:"prompt"`
	// Logprobs is how many alternatives each token's log-probability
	// comes with (0 to 20); absent: no logprobs.
	Logprobs *int `json:"logprobs"`
	// Echo puts the prompt before the generated text.
	Echo bool `json:"echo"`
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	samplingFields
	Messages    []chatMessage `json:"messages"`
	Logprobs    bool          `json:"logprobs"`
	TopLogprobs *int          `json:"top_logprobs"`
}

// stopField is "stop": a string or an array of up to four strings.
type stopField []string

func (s *stopField) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopField{one}
	} else if err := json.Unmarshal(b, (*[]string)(s)); err != nil {
		return badParam("stop", "stop must be a string or an array of strings")
	}
	if len(*s) > maxStops {
		return badParam("stop", fmt.Sprintf("stop holds %d strings; at most %d are allowed", len(*s), maxStops))
	}
	for _, v := range *s {
		if v == "" {
			return badParam("stop", "stop strings must not be empty")
		}
	}
	return nil
}

// maxStops is OpenAI's bound on stop strings.
const maxStops = 4

// promptField is a prompt given as a string, an array of one string, or
// an array of token ids.
type promptField struct {
	set    bool
	text   string
	tokens []int // non-nil for an array of token ids
}

func (p *promptField) UnmarshalJSON(b []byte) error {
	p.set = true
	if err := json.Unmarshal(b, &p.text); err == nil {
		return nil
	}
	var ids []int
	if err := json.Unmarshal(b, &ids); err == nil && len(ids) > 0 {
		p.tokens = ids
		return nil
	}
	var texts []string
	if err := json.Unmarshal(b, &texts); err != nil {
		return badParam("prompt", "prompt must be a string, an array of one string or an array of token ids")
	}
	if len(texts) != 1 {
		return badParam("prompt", fmt.Sprintf("prompt holds %d strings; only one prompt per request is supported", len(texts)))
	}
	p.text = texts[0]
	return nil
}

// decodeBody reads the whole body (so that the server can notice a client
// that goes away afterwards) and decodes it as JSON into v, refusing
// fields v does not have.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badParam("", "malformed JSON body: data after the object")
	}
	return nil
}

// jsonError names the offending field of a JSON decoding error.
func jsonError(err error) error {
	var ae *apiError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field := strings.TrimPrefix(typeErr.Field, "samplingFields.")
		return badParam(field, fmt.Sprintf("%s: got a JSON %s, want %s", field, typeErr.Value, typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badParam(field, fmt.Sprintf("%s is not supported by this server", field))
	}
	return badParam("", "malformed JSON body: "+err.Error())
}

// generation is a validated request: what to start and how to answer.
type generation struct {
	Request SessionRequest
	Stream  bool
	Chat    bool
	// Echo puts the prompt before the text (completions only).
	Echo bool
	// IncludeUsage ends a stream with a chunk of the usage.
	IncludeUsage bool
	tok          Tokenizer
	echo         string // the prompt's text, for Echo
}

// encoder makes a request's prompt ids with the model's tokenizer.
type encoder func(Tokenizer) ([]int, error)

// textPrompt encodes a completion's prompt: its ids, or its text.
func textPrompt(prompt promptField) encoder {
	return func(tok Tokenizer) ([]int, error) {
		if prompt.text == "" && prompt.tokens == nil {
			return nil, badParam("prompt", "prompt must not be empty")
		}
		if prompt.tokens != nil {
			return prompt.tokens, nil
		}
		return tok.Encode(prompt.text), nil
	}
}

// validate checks the shared fields and makes the session request for the
// prompt encode makes; promptParam names the field the prompt came from.
func (s *server) validate(f samplingFields, encode encoder, promptParam string) (generation, error) {
	var g generation
	info, tok, err := s.model(f.Model)
	if err != nil {
		return g, err
	}
	if err := checkSampling(f); err != nil {
		return g, err
	}
	ids, err := encode(tok)
	if err != nil {
		return g, err
	}
	for i, id := range ids {
		if id < 0 || (info.Vocab > 0 && id >= info.Vocab) {
			return g, badParam(promptParam, fmt.Sprintf("token %d of the prompt is %d; the vocabulary has ids 0 to %d", i, id, info.Vocab-1))
		}
	}
	maxTokens, err := s.maxTokens(f, promptParam, len(ids), info.ContextLength)
	if err != nil {
		return g, err
	}
	g.Request = SessionRequest{Model: info.ID, Prompt: ids, MaxTokens: maxTokens,
		Temperature: float32(orDefault(f.Temperature, 1)), TopP: float32(orDefault(f.TopP, 1)), Seed: seed(f.Seed),
		IgnoreEOS: f.IgnoreEOS}
	if g.Request.TopP == 0 {
		// The nucleus of top_p 0 is the most likely token alone (the
		// sampler, as llama2.c's, reads 0 as "no nucleus").
		g.Request.Temperature = 0
	}
	if err := samplingExtras(f, info.Vocab, &g.Request); err != nil {
		return g, err
	}
	g.IncludeUsage = f.StreamOptions != nil && f.StreamOptions.IncludeUsage
	g.Stream, g.tok = f.Stream, tok
	return g, nil
}

// promptText is the text of a prompt's ids, as echo shows it.
func promptText(tok Tokenizer, ids []int) string {
	dec := tok.NewStreamDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(dec.Push(id))
	}
	b.WriteString(dec.Flush())
	return b.String()
}

// model finds a served model and its tokenizer. An empty name means the
// served model when there is exactly one.
func (s *server) model(name string) (ModelInfo, Tokenizer, error) {
	if models := s.b.Models(); name == "" && len(models) == 1 {
		name = models[0].ID
	}
	if name == "" {
		return ModelInfo{}, nil, badParam("model", "model is required")
	}
	for _, m := range s.b.Models() {
		if m.ID == name {
			tok, err := s.b.Tokenizer(name)
			return m, tok, err
		}
	}
	return ModelInfo{}, nil, fmt.Errorf("%w: %q is not served here (GET /v1/models lists the models)", ErrUnknownModel, name)
}

// maxTemperature is the largest temperature accepted, OpenAI's bound.
// Temperatures down to the smallest float32 (1.4e-45) are handled exactly
// by the sampler; smaller ones round to 0, greedy.
const maxTemperature = 2

func checkSampling(f samplingFields) error {
	if t := f.Temperature; t != nil && !(*t >= 0 && *t <= maxTemperature) {
		return badParam("temperature", fmt.Sprintf("temperature must be in [0, %v], got %v", maxTemperature, *t))
	}
	if p := f.TopP; p != nil && !(*p >= 0 && *p <= 1) {
		return badParam("top_p", fmt.Sprintf("top_p must be in [0, 1], got %v", *p))
	}
	if f.N != nil && *f.N != 1 {
		return badParam("n", fmt.Sprintf("n must be 1, got %d", *f.N))
	}
	return nil
}

// maxTokens returns the request's max_tokens (or max_completion_tokens), or
// the default cut to what the context leaves after the prompt. A context
// length of 0 means unknown: nothing is checked against it.
func (s *server) maxTokens(f samplingFields, promptParam string, promptLen, contextLen int) (int, error) {
	param, n := "max_tokens", f.MaxTokens
	if n == nil && f.MaxCompletionTokens != nil {
		param, n = "max_completion_tokens", f.MaxCompletionTokens
	}
	room := contextLen - promptLen
	if contextLen > 0 && room < 1 {
		return 0, badParam(promptParam, fmt.Sprintf("the prompt is %d tokens; the model's context holds %d", promptLen, contextLen))
	}
	if n == nil {
		if contextLen > 0 {
			return min(s.opts.DefaultMaxTokens, room), nil
		}
		return s.opts.DefaultMaxTokens, nil
	}
	if *n < 1 {
		return 0, badParam(param, fmt.Sprintf("%s must be >= 1, got %d", param, *n))
	}
	if contextLen > 0 && *n > room {
		return 0, badParam(param, fmt.Sprintf("the prompt (%d tokens) plus %s (%d) exceed the model's context of %d tokens", promptLen, param, *n, contextLen))
	}
	return *n, nil
}

func orDefault(v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	return *v
}

// seed returns the request's seed, or a random one.
func seed(v *int64) uint64 {
	if v == nil {
		return rand.Uint64()
	}
	return uint64(*v)
}

// chatMessage is one message of a chat request. Content is a string or an
// array of {"type": "text", "text": ...} parts.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

// chatMessages reads a conversation for the model's chat template. The
// "developer" role, which OpenAI's newer models take instead of "system",
// is "system" to the template.
func chatMessages(messages []chatMessage) ([]chattemplate.Message, error) {
	if len(messages) == 0 {
		return nil, badParam("messages", "messages must not be empty")
	}
	out := make([]chattemplate.Message, len(messages))
	for i, m := range messages {
		if !chatRoles[m.Role] {
			return nil, badParam(fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("unknown role %q", m.Role))
		}
		text, err := messageText(m.Content)
		if err != nil {
			return nil, badParam(fmt.Sprintf("messages[%d].content", i), err.Error())
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		out[i] = chattemplate.Message{Role: role, Content: text}
	}
	return out, nil
}

// chatPrompt encodes a conversation with the model's chat template.
func (s *server) chatPrompt(messages []chattemplate.Message) encoder {
	return func(tok Tokenizer) ([]int, error) {
		ids, err := tok.EncodeChat(messages, s.opts.Now())
		if errors.Is(err, chattemplate.ErrConversation) {
			return nil, badParam("messages", err.Error())
		}
		return ids, err
	}
}

// messageText reads a message's content: a string, or text parts joined.
func messageText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported, only \"text\"", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}
