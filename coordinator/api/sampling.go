package api

import (
	"fmt"
	"math"
	"strconv"
)

// Bounds of the sampling parameters beyond temperature and top_p.
const (
	maxPenalty       = 2   // presence and frequency, OpenAI's bound
	maxRepeatPenalty = 100 // repetition_penalty (llama.cpp takes any > 0)
	maxLogitBias     = 100 // OpenAI's bound
	maxTopLogprobs   = 20  // OpenAI's bound (the last stage's too)
)

// samplingExtras checks the penalties, logit_bias and stop of f against a
// vocabulary of vocab ids (0: not checked) and sets them in req.
func samplingExtras(f samplingFields, vocab int, req *SessionRequest) error {
	var err error
	if req.PresencePenalty, err = penalty("presence_penalty", f.PresencePenalty); err != nil {
		return err
	}
	if req.FrequencyPenalty, err = penalty("frequency_penalty", f.FrequencyPenalty); err != nil {
		return err
	}
	if r := f.RepetitionPenalty; r != nil {
		if !(*r > 0 && *r <= maxRepeatPenalty) {
			return badParam("repetition_penalty", fmt.Sprintf("repetition_penalty must be in (0, %d], got %v", maxRepeatPenalty, *r))
		}
		req.RepeatPenalty = float32(*r)
	}
	if req.LogitBias, err = logitBias(f.LogitBias, vocab); err != nil {
		return err
	}
	req.Stop = f.Stop
	if f.StreamOptions != nil && !f.Stream {
		return badParam("stream_options", "stream_options is only allowed with stream: true")
	}
	return nil
}

func penalty(param string, v *float64) (float32, error) {
	if v == nil {
		return 0, nil
	}
	if !(*v >= -maxPenalty && *v <= maxPenalty) {
		return 0, badParam(param, fmt.Sprintf("%s must be in [-%d, %d], got %v", param, maxPenalty, maxPenalty, *v))
	}
	return float32(*v), nil
}

// logitBias reads {"token id": bias}.
func logitBias(m map[string]float64, vocab int) (map[int]float32, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[int]float32, len(m))
	for k, b := range m {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || (vocab > 0 && id >= vocab) {
			return nil, badParam("logit_bias", fmt.Sprintf("logit_bias key %q is not a token id of the vocabulary (0 to %d)", k, vocab-1))
		}
		if !(b >= -maxLogitBias && b <= maxLogitBias) || math.IsNaN(b) {
			return nil, badParam("logit_bias", fmt.Sprintf("logit_bias of token %d must be in [-%d, %d], got %v", id, maxLogitBias, maxLogitBias, b))
		}
		out[id] = float32(b)
	}
	return out, nil
}

// readCompletionLogprobs reads /v1/completions' "logprobs" (how many
// alternatives) and "echo", which cannot go together: the prompt's
// log-probabilities are not computed.
func readCompletionLogprobs(req completionRequest, g *generation) error {
	if req.Logprobs == nil {
		g.Echo = req.Echo
		if g.Echo {
			g.echo = req.Prompt.text
			if req.Prompt.tokens != nil {
				g.echo = promptText(g.tok, req.Prompt.tokens)
			}
		}
		return nil
	}
	if n := *req.Logprobs; n < 0 || n > maxTopLogprobs {
		return badParam("logprobs", fmt.Sprintf("logprobs must be in [0, %d], got %d", maxTopLogprobs, n))
	}
	if req.Echo {
		return badParam("echo", "echo with logprobs is not supported: the prompt's log-probabilities are not computed")
	}
	g.Request.Logprobs, g.Request.TopLogprobs = true, *req.Logprobs
	return nil
}

// readChatLogprobs reads /v1/chat/completions' "logprobs" and "top_logprobs".
func readChatLogprobs(req chatRequest, g *generation) error {
	if req.TopLogprobs != nil {
		if !req.Logprobs {
			return badParam("top_logprobs", "top_logprobs requires logprobs: true")
		}
		if n := *req.TopLogprobs; n < 0 || n > maxTopLogprobs {
			return badParam("top_logprobs", fmt.Sprintf("top_logprobs must be in [0, %d], got %d", maxTopLogprobs, n))
		}
		g.Request.TopLogprobs = *req.TopLogprobs
	}
	g.Request.Logprobs = req.Logprobs
	return nil
}
