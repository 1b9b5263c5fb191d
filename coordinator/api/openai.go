package api

import "math"

// The OpenAI response objects, as the completion endpoints write them.

// completionObject is a text_completion, whole or one streamed chunk.
type completionObject struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []textChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
	// ResumeToken (an extension) is in the first chunk of the creator's
	// stream: what resuming the session needs.
	ResumeToken string `json:"resume_token,omitempty"`
}

type textChoice struct {
	Text         string              `json:"text"`
	Index        int                 `json:"index"`
	Logprobs     *completionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// completionLogprobs is the legacy completions' logprobs object: one
// entry per token in each list.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// chatObject is a chat.completion or a chat.completion.chunk.
type chatObject struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
	// ResumeToken: as in completionObject.
	ResumeToken string `json:"resume_token,omitempty"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Delta        *chatContent  `json:"delta,omitempty"`
	Message      *chatContent  `json:"message,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type chatContent struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// chatLogprobs is a chat choice's logprobs object.
type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatTokenLogprob struct {
	Token       string           `json:"token"`
	Logprob     float32          `json:"logprob"`
	Bytes       []int            `json:"bytes"`
	TopLogprobs []chatTopLogprob `json:"top_logprobs"`
}

type chatTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// unknownLogprob stands for a log-probability the producer did not
// compute (OpenAI's value for it); JSON has no NaN.
const unknownLogprob = -9999

func logprobValue(lp float32) float32 {
	if math.IsNaN(float64(lp)) {
		return unknownLogprob
	}
	return lp
}

// chunk is the streamed object of one piece. The first chunk of a chat
// stream carries the assistant's role; the first of an echoing completion
// the prompt.
func (v sessionView) chunk(p piece) any {
	finish := finishReason(p)
	token := ""
	if p.Index == 0 {
		token = v.resumeToken
	}
	if !v.Chat {
		text := p.Text
		if p.Index == 0 {
			text = v.Echo + text
		}
		return completionObject{ID: v.openAIID(), Object: "text_completion", Created: v.Created, Model: v.Model,
			Choices: []textChoice{{Text: text, Logprobs: v.completionLogprobs([]piece{p}), FinishReason: finish}}, ResumeToken: token}
	}
	delta := &chatContent{}
	if p.Index == 0 {
		delta.Role = "assistant"
	}
	if !p.end() || p.Text != "" {
		delta.Content = &p.Text
	}
	return chatObject{ID: v.openAIID(), Object: "chat.completion.chunk", Created: v.Created, Model: v.Model,
		Choices: []chatChoice{{Delta: delta, Logprobs: v.chatLogprobs([]piece{p}), FinishReason: finish}}, ResumeToken: token}
}

// usageChunk is the last chunk of a stream with include_usage: no
// choices, the usage.
func (v sessionView) usageChunk(generated int) any {
	u := v.usage(generated)
	if !v.Chat {
		return completionObject{ID: v.openAIID(), Object: "text_completion", Created: v.Created, Model: v.Model, Choices: []textChoice{}, Usage: u}
	}
	return chatObject{ID: v.openAIID(), Object: "chat.completion.chunk", Created: v.Created, Model: v.Model, Choices: []chatChoice{}, Usage: u}
}

func (v sessionView) usage(generated int) *usage {
	return &usage{PromptTokens: len(v.Prompt), CompletionTokens: generated, TotalTokens: len(v.Prompt) + generated}
}

// whole is the response of a non-streamed request: its pieces, the end
// piece last.
func (v sessionView) whole(pieces []piece) any {
	last := pieces[len(pieces)-1]
	var text string
	for _, p := range pieces {
		text += p.Text
	}
	u := v.usage(last.Index)
	finish := last.FinishReason
	if !v.Chat {
		return completionObject{ID: v.openAIID(), Object: "text_completion", Created: v.Created, Model: v.Model,
			Choices: []textChoice{{Text: v.Echo + text, Logprobs: v.completionLogprobs(pieces), FinishReason: &finish}}, Usage: u}
	}
	msg := &chatContent{Role: "assistant", Content: &text}
	return chatObject{ID: v.openAIID(), Object: "chat.completion", Created: v.Created, Model: v.Model,
		Choices: []chatChoice{{Message: msg, Logprobs: v.chatLogprobs(pieces), FinishReason: &finish}}, Usage: u}
}

// completionLogprobs lists the tokens of pieces (nil unless asked for).
func (v sessionView) completionLogprobs(pieces []piece) *completionLogprobs {
	if !v.Logprobs {
		return nil
	}
	out := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	for _, p := range pieces {
		if p.Token < 0 || p.Logprobs == nil {
			continue
		}
		top := make(map[string]float32, len(p.Logprobs.Top))
		for _, t := range p.Logprobs.Top {
			top[string(v.tok.TokenBytes(t.Token))] = logprobValue(t.Logprob)
		}
		out.Tokens = append(out.Tokens, string(v.tok.TokenBytes(p.Token)))
		out.TokenLogprobs = append(out.TokenLogprobs, logprobValue(p.Logprobs.Logprob))
		out.TopLogprobs = append(out.TopLogprobs, top)
		out.TextOffset = append(out.TextOffset, len(v.Echo)+p.Offset)
	}
	return out
}

// chatLogprobs lists the tokens of pieces (nil unless asked for).
func (v sessionView) chatLogprobs(pieces []piece) *chatLogprobs {
	if !v.Logprobs {
		return nil
	}
	out := &chatLogprobs{Content: []chatTokenLogprob{}}
	for _, p := range pieces {
		if p.Token < 0 || p.Logprobs == nil {
			continue
		}
		b := v.tok.TokenBytes(p.Token)
		e := chatTokenLogprob{Token: string(b), Logprob: logprobValue(p.Logprobs.Logprob), Bytes: ints(b), TopLogprobs: []chatTopLogprob{}}
		for _, t := range p.Logprobs.Top {
			tb := v.tok.TokenBytes(t.Token)
			e.TopLogprobs = append(e.TopLogprobs, chatTopLogprob{Token: string(tb), Logprob: logprobValue(t.Logprob), Bytes: ints(tb)})
		}
		out.Content = append(out.Content, e)
	}
	return out
}

// ints is b as JSON numbers (a []byte would be base64).
func ints(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func finishReason(p piece) *string {
	if !p.end() {
		return nil
	}
	return &p.FinishReason
}
