package api

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
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
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
	Index        int          `json:"index"`
	Delta        *chatContent `json:"delta,omitempty"`
	Message      *chatContent `json:"message,omitempty"`
	Logprobs     *struct{}    `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chunk is the streamed object of one piece. The first chunk of a chat
// stream carries the assistant's role.
func (v sessionView) chunk(p piece) any {
	finish := finishReason(p)
	token := ""
	if p.Index == 0 {
		token = v.resumeToken
	}
	if !v.Chat {
		return completionObject{ID: v.openAIID(), Object: "text_completion", Created: v.Created, Model: v.Model,
			Choices: []textChoice{{Text: p.Text, FinishReason: finish}}, ResumeToken: token}
	}
	delta := &chatContent{}
	if p.Index == 0 {
		delta.Role = "assistant"
	}
	if !p.end() || p.Text != "" {
		delta.Content = &p.Text
	}
	return chatObject{ID: v.openAIID(), Object: "chat.completion.chunk", Created: v.Created, Model: v.Model,
		Choices: []chatChoice{{Delta: delta, FinishReason: finish}}, ResumeToken: token}
}

// whole is the response of a non-streamed request.
func (v sessionView) whole(text string, generated int, finish string) any {
	u := &usage{PromptTokens: len(v.Prompt), CompletionTokens: generated, TotalTokens: len(v.Prompt) + generated}
	if !v.Chat {
		return completionObject{ID: v.openAIID(), Object: "text_completion", Created: v.Created, Model: v.Model,
			Choices: []textChoice{{Text: text, FinishReason: &finish}}, Usage: u}
	}
	msg := &chatContent{Role: "assistant", Content: &text}
	return chatObject{ID: v.openAIID(), Object: "chat.completion", Created: v.Created, Model: v.Model,
		Choices: []chatChoice{{Message: msg, FinishReason: &finish}}, Usage: u}
}

func finishReason(p piece) *string {
	if !p.end() {
		return nil
	}
	return &p.FinishReason
}
