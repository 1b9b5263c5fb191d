package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const stopRest = " there was a little girl named Lily. She loved to play"

// Stop strings end the text at their first occurrence, never shown, with
// finish_reason "stop", whether the answer streams or not.
func TestStop(t *testing.T) {
	cases := []struct {
		name, stop string
		text       string
		finish     string
	}{
		{"split across tokens", `"little gi"`, " there was a ", "stop"},
		{"at the start", `" there"`, "", "stop"},
		{"within one token", `"ttl"`, " there was a li", "stop"},
		{"earliest of several", `["Lily", "was", "zzz"]`, " there ", "stop"},
		{"absent", `["zzz", "Lily!"]`, stopRest, "length"},
		{"at the very end", `"play"`, " there was a little girl named Lily. She loved to ", "stop"},
	}
	for _, c := range cases {
		for _, chat := range []bool{false, true} {
			e := newEnv(t)
			e.b.finish = "length"
			continuation(t, e.b, "Once upon a time", stopRest)
			e.b.script = e.b.script[:len(e.b.script)-1] // no EOS: the script ends by length
			path, body := "/v1/completions", `{"prompt":"Once upon a time","stop":`+c.stop
			if chat {
				// The fallback template's prompt ends "assistant:"; the
				// script's text is what follows either way.
				path, body = "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"stop":`+c.stop
			}
			var whole completionResponse
			readJSON(t, e.post(t, path, body+`}`), http.StatusOK, &whole)
			got := whole.Choices[0].Text
			if chat {
				got = whole.Choices[0].Message.Content
			}
			if got != c.text || whole.Choices[0].FinishReason != c.finish {
				t.Errorf("%s (chat %v): %q finish %q, want %q finish %q", c.name, chat, got, whole.Choices[0].FinishReason, c.text, c.finish)
			}
			resp := e.post(t, path, body+`,"stream":true}`)
			out, _, done := chunks(t, newSSEReader(resp.Body).all(t))
			resp.Body.Close()
			var streamed strings.Builder
			for _, ch := range out {
				streamed.WriteString(ch.text())
			}
			if !done || streamed.String() != c.text || out[len(out)-1].finish() != c.finish {
				t.Errorf("%s (chat %v) streamed: %q finish %q, want %q finish %q", c.name, chat, streamed.String(), out[len(out)-1].finish(), c.text, c.finish)
			}
		}
	}
}

// The stop filter's count of tokens is the session's up to the token that
// completed the stop string.
func TestStopUsage(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, "Once upon a time", stopRest)
	var whole completionResponse
	readJSON(t, e.post(t, "/v1/completions", `{"prompt":"Once upon a time","stop":" there"}`), http.StatusOK, &whole)
	if whole.Usage.CompletionTokens != 1 {
		t.Errorf("completion_tokens = %d, want 1 (the stop string is the first token)", whole.Usage.CompletionTokens)
	}
	if req := e.b.lastRequest(t); len(req.Stop) != 1 || req.Stop[0] != " there" {
		t.Errorf("session request stop %q", req.Stop)
	}
}

func TestSamplingParametersReachTheSession(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, "Once upon a time", stopRest)
	readJSON(t, e.post(t, "/v1/completions", `{"prompt":"Once upon a time","presence_penalty":0.5,"frequency_penalty":-1.5,"repetition_penalty":1.1,"logit_bias":{"13":-100,"400":2.5},"seed":7,"user":"u1"}`), http.StatusOK, &completionResponse{})
	req := e.b.lastRequest(t)
	if req.PresencePenalty != 0.5 || req.FrequencyPenalty != -1.5 || req.RepeatPenalty != float32(1.1) || req.Seed != 7 ||
		len(req.LogitBias) != 2 || req.LogitBias[13] != -100 || req.LogitBias[400] != 2.5 {
		t.Errorf("session request %+v", req)
	}
}

func TestSamplingValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ name, path, body, param string }{
		{"five stops", "/v1/completions", `{"prompt":"x","stop":["a","b","c","d","e"]}`, "stop"},
		{"empty stop", "/v1/completions", `{"prompt":"x","stop":""}`, "stop"},
		{"stop number", "/v1/completions", `{"prompt":"x","stop":3}`, "stop"},
		{"presence above 2", "/v1/completions", `{"prompt":"x","presence_penalty":2.5}`, "presence_penalty"},
		{"frequency below -2", "/v1/completions", `{"prompt":"x","frequency_penalty":-3}`, "frequency_penalty"},
		{"repetition 0", "/v1/completions", `{"prompt":"x","repetition_penalty":0}`, "repetition_penalty"},
		{"bias key", "/v1/completions", `{"prompt":"x","logit_bias":{"abc":1}}`, "logit_bias"},
		{"bias past vocabulary", "/v1/completions", `{"prompt":"x","logit_bias":{"512":1}}`, "logit_bias"},
		{"bias above 100", "/v1/completions", `{"prompt":"x","logit_bias":{"5":101}}`, "logit_bias"},
		{"logprobs 21", "/v1/completions", `{"prompt":"x","logprobs":21}`, "logprobs"},
		{"echo with logprobs", "/v1/completions", `{"prompt":"x","logprobs":1,"echo":true}`, "echo"},
		{"top_logprobs alone", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}`, "top_logprobs"},
		{"top_logprobs 21", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}`, "top_logprobs"},
		{"chat logprobs number", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"logprobs":3}`, "logprobs"},
		{"echo in chat", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"echo":true}`, "echo"},
		{"tools", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"tools":[]}`, "tools"},
		{"response_format", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`, "response_format"},
		{"best_of", "/v1/completions", `{"prompt":"x","best_of":2}`, "best_of"},
		{"stream_options without stream", "/v1/completions", `{"prompt":"x","stream_options":{"include_usage":true}}`, "stream_options"},
		{"unknown stream option", "/v1/completions", `{"prompt":"x","stream":true,"stream_options":{"continuous_usage_stats":true}}`, "continuous_usage_stats"},
	}
	for _, c := range cases {
		var got openAIError
		readJSON(t, e.post(t, c.path, c.body), http.StatusBadRequest, &got)
		if got.param() != c.param || got.Error.Message == "" {
			t.Errorf("%s: error %+v (param %q), want param %q", c.name, got.Error, got.param(), c.param)
		}
	}
	if len(e.b.requests) != 0 {
		t.Errorf("refused requests started %d sessions", len(e.b.requests))
	}
}

func TestEcho(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, "Once upon a time", stopRest)
	var whole completionResponse
	readJSON(t, e.post(t, "/v1/completions", `{"prompt":"Once upon a time","echo":true}`), http.StatusOK, &whole)
	if want := "Once upon a time" + stopRest; whole.Choices[0].Text != want {
		t.Errorf("echo: %q, want %q", whole.Choices[0].Text, want)
	}
	resp := e.post(t, "/v1/completions", `{"prompt":"Once upon a time","echo":true,"stream":true}`)
	defer resp.Body.Close()
	out, _, _ := chunks(t, newSSEReader(resp.Body).all(t))
	if !strings.HasPrefix(out[0].text(), "Once upon a time") {
		t.Errorf("first streamed chunk %q does not echo the prompt", out[0].text())
	}
}

// A stream with include_usage ends with a chunk of no choices and the
// usage, before [DONE].
func TestIncludeUsage(t *testing.T) {
	for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
		e := newEnv(t)
		continuation(t, e.b, "Once upon a time", stopRest)
		body := `{"prompt":"Once upon a time","stream":true,"stream_options":{"include_usage":true}}`
		if strings.Contains(path, "chat") {
			body = `{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`
		}
		resp := e.post(t, path, body)
		evs := newSSEReader(resp.Body).all(t)
		resp.Body.Close()
		var last struct {
			Choices []any `json:"choices"`
			Usage   *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
				TotalTokens      int `json:"total_tokens"`
			} `json:"usage"`
		}
		if len(evs) < 3 || evs[len(evs)-1].Data != "[DONE]" {
			t.Fatalf("%s: events %v", path, evs)
		}
		if err := json.Unmarshal([]byte(evs[len(evs)-2].Data), &last); err != nil {
			t.Fatal(err)
		}
		req := e.b.lastRequest(t)
		if last.Usage == nil || len(last.Choices) != 0 || last.Usage.CompletionTokens != len(e.b.script) ||
			last.Usage.PromptTokens != len(req.Prompt) || last.Usage.TotalTokens != len(req.Prompt)+len(e.b.script) {
			t.Errorf("%s: usage chunk %s", path, evs[len(evs)-2].Data)
		}
		var before struct {
			Usage any `json:"usage"`
		}
		json.Unmarshal([]byte(evs[len(evs)-3].Data), &before)
		if before.Usage != nil {
			t.Errorf("%s: usage before the last chunk", path)
		}
	}
}

// Logprobs come in OpenAI's shapes: the legacy completions' parallel
// lists, the chat's content entries with bytes.
func TestLogprobsShapes(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, "Once upon a time", " there was")
	tok := storiesTokenizer(t)
	var whole struct {
		Choices []struct {
			Text     string `json:"text"`
			Logprobs struct {
				Tokens        []string             `json:"tokens"`
				TokenLogprobs []float32            `json:"token_logprobs"`
				TopLogprobs   []map[string]float32 `json:"top_logprobs"`
				TextOffset    []int                `json:"text_offset"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	readJSON(t, e.post(t, "/v1/completions", `{"prompt":"Once upon a time","logprobs":2}`), http.StatusOK, &whole)
	if req := e.b.lastRequest(t); !req.Logprobs || req.TopLogprobs != 2 {
		t.Errorf("session request logprobs %v top %d", req.Logprobs, req.TopLogprobs)
	}
	lp := whole.Choices[0].Logprobs
	script := e.b.script
	if len(lp.Tokens) != len(script) || len(lp.TokenLogprobs) != len(script) || len(lp.TopLogprobs) != len(script) || len(lp.TextOffset) != len(script) {
		t.Fatalf("logprobs %+v for %d tokens", lp, len(script))
	}
	offset := 0
	for i, id := range script {
		piece := string(tok.Piece(-1, id))
		if lp.Tokens[i] != piece || lp.TokenLogprobs[i] != -float32(id)/1000 || lp.TopLogprobs[i][string(tok.Piece(-1, 300))] != -3.5 || lp.TextOffset[i] != offset {
			t.Errorf("token %d: %q %v %v offset %d, want %q %v offset %d", i, lp.Tokens[i], lp.TokenLogprobs[i], lp.TopLogprobs[i], lp.TextOffset[i], piece, -float32(id)/1000, offset)
		}
		offset += len(tok.Decode([]int{id}))
	}

	var chat struct {
		Choices []struct {
			Logprobs struct {
				Content []struct {
					Token       string  `json:"token"`
					Logprob     float32 `json:"logprob"`
					Bytes       []int   `json:"bytes"`
					TopLogprobs []struct {
						Token   string  `json:"token"`
						Logprob float32 `json:"logprob"`
						Bytes   []int   `json:"bytes"`
					} `json:"top_logprobs"`
				} `json:"content"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	readJSON(t, e.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2}`), http.StatusOK, &chat)
	content := chat.Choices[0].Logprobs.Content
	if len(content) != len(script) {
		t.Fatalf("chat logprobs %+v", content)
	}
	for i, c := range content {
		b := tok.Piece(-1, script[i])
		if c.Token != string(b) || len(c.Bytes) != len(b) || c.Logprob != -float32(script[i])/1000 || len(c.TopLogprobs) != 2 || c.TopLogprobs[1].Logprob != -3.5 {
			t.Errorf("chat token %d: %+v", i, c)
		}
	}
	var plain struct {
		Choices []struct {
			Logprobs any `json:"logprobs"`
		} `json:"choices"`
	}
	readJSON(t, e.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`), http.StatusOK, &plain)
	if plain.Choices[0].Logprobs != nil {
		t.Errorf("logprobs without asking: %v", plain.Choices[0].Logprobs)
	}
}

// A resumed stream answers as the first one did: the same stop string
// ends it, with the same text, and logprobs come with each token.
func TestResumeKeepsStopAndLogprobs(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, "Once upon a time", stopRest)
	resp := e.post(t, "/v1/completions", `{"prompt":"Once upon a time","stop":"Lily","logprobs":1,"stream":true}`)
	first, _, _ := chunks(t, newSSEReader(resp.Body).all(t))
	resp.Body.Close()
	sid := resp.Header.Get("X-Tabshard-Session")
	resumed, _, done := chunks(t, newSSEReader(e.do(t, "GET", "/v1/sessions/"+sid+"/events", "").Body).all(t))
	text := func(cs []streamChunk) string {
		var b strings.Builder
		for _, c := range cs {
			b.WriteString(c.text())
		}
		return b.String()
	}
	want := " there was a little girl named "
	if text(first) != want || text(resumed) != want || !done || resumed[len(resumed)-1].finish() != "stop" {
		t.Fatalf("first %q, resumed %q (done %v), want %q ending with stop", text(first), text(resumed), done, want)
	}
	evs := newSSEReader(e.do(t, "GET", "/v1/sessions/"+sid+"/events", "").Body).all(t)
	offset := 0
	for _, ev := range evs[:len(evs)-2] { // the token chunks, not the end one and [DONE]
		var c struct {
			Choices []struct {
				Text     string `json:"text"`
				Logprobs *struct {
					Tokens     []string `json:"tokens"`
					TextOffset []int    `json:"text_offset"`
				} `json:"logprobs"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatal(err)
		}
		lp := c.Choices[0].Logprobs
		if lp == nil || len(lp.Tokens) != 1 || lp.TextOffset[0] != offset {
			t.Fatalf("chunk %s: want one token's logprobs at offset %d", ev.Data, offset)
		}
		offset += len(c.Choices[0].Text)
	}
}
