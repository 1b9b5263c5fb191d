package coordinator

import (
	"strings"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// penaltyWindow is how many tokens of context the penalties look at:
// llama.cpp's default penalty_last_n (repeat_last_n).
const penaltyWindow = 64

// stepSampling is the sampling a session's next step carries: the
// session's, with the penalty window filled in from the committed prompt
// and tokens. Derived from the replicated state alone, it is the same
// whichever leader issues the step and however often.
func stepSampling(s *tabshardv1.Session) *tabshardv1.Sampling {
	sm := s.GetSampling()
	if !penalised(sm) {
		return sm
	}
	out := proto.Clone(sm).(*tabshardv1.Sampling)
	context := append(append([]uint32(nil), s.GetPrompt()...), s.GetGenerated()...)
	out.RecentTokens = context[max(0, len(context)-penaltyWindow):]
	return out
}

func penalised(sm *tabshardv1.Sampling) bool {
	return sm.GetPresencePenalty() != 0 || sm.GetFrequencyPenalty() != 0 || (sm.GetRepeatPenalty() != 0 && sm.GetRepeatPenalty() != 1)
}

// directSampling is stepSampling with what the last stage needs to send
// each next step straight to the first stage: where the session ends by
// length (max_tokens or the context of ctxLen positions), its stop
// tokens, and the penalties' window size. A session with no end known
// gets none: the leader issues its steps.
func directSampling(s *tabshardv1.Session, ctxLen uint32) *tabshardv1.Sampling {
	end := ctxLen
	if n := s.GetMaxTokens(); n > 0 {
		if byTokens := uint32(len(s.GetPrompt())) + n; end == 0 || byTokens < end {
			end = byTokens
		}
	}
	if end == 0 {
		return stepSampling(s)
	}
	out := proto.Clone(stepSampling(s)).(*tabshardv1.Sampling)
	out.EndPosition, out.StopTokens = end, s.GetStopTokens()
	if penalised(out) {
		out.RecentWindow = penaltyWindow
	}
	return out
}

// sessionLogprobs is what a committed token records of its
// log-probabilities: the producer's, when the session asked for them.
func sessionLogprobs(s *tabshardv1.Session, t *tabshardv1.Token) *tabshardv1.TokenLogprobs {
	if !s.GetSampling().GetLogprobs() {
		return nil
	}
	return t.GetLogprobs()
}

// textDecoder decodes token ids as the API does (see tokenizer.StreamDecoder).
type textDecoder interface {
	Decode(ids []int) string
}

// stopped reports whether the text of s's generated tokens contains one of
// its stop strings. Only a tail can hold a new occurrence (an earlier one
// ended the session): the last tokens that make up at least four bytes a
// stop string's byte, byte-fallback tokens being as short as one byte, a
// token before them as context.
func stopped(dec textDecoder, s *tabshardv1.Session) bool {
	if dec == nil || len(s.GetStop()) == 0 || len(s.GetGenerated()) == 0 {
		return false
	}
	longest := 0
	for _, stop := range s.GetStop() {
		longest = max(longest, len(stop))
	}
	gen := s.GetGenerated()
	from := max(0, len(gen)-4*longest-4)
	ids := make([]int, 0, len(gen)-from+1)
	for _, id := range gen[from:] {
		ids = append(ids, int(id))
	}
	text := dec.Decode(ids)
	for _, stop := range s.GetStop() {
		if strings.Contains(text, stop) {
			return true
		}
	}
	return false
}
