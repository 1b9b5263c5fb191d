package worker

import (
	"math"
	"sort"
)

// MaxTopLogprobs is the most alternatives LogProbs reports (OpenAI's
// bound).
const MaxTopLogprobs = 20

// TokenLogprob is a token id and its log-probability.
type TokenLogprob struct {
	ID      int
	Logprob float32
}

// LogProbs returns the log-probability of token chosen under logits (the
// log-softmax of the model's raw logits, computed in float64) and those
// of the top most likely tokens, most likely first, ties by lower id.
// logits is not modified.
func LogProbs(logits []float32, chosen, top int) (float32, []TokenLogprob) {
	hi := math.Inf(-1)
	for _, v := range logits {
		hi = math.Max(hi, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - hi)
	}
	lse := hi + math.Log(sum)
	lp := func(id int) float32 { return float32(float64(logits[id]) - lse) }
	var chosenLP float32
	if chosen >= 0 && chosen < len(logits) {
		chosenLP = lp(chosen)
	}
	top = min(max(top, 0), MaxTopLogprobs, len(logits))
	if top == 0 {
		return chosenLP, nil
	}
	best := topIDs(logits, top)
	out := make([]TokenLogprob, len(best))
	for i, id := range best {
		out[i] = TokenLogprob{ID: id, Logprob: lp(id)}
	}
	return chosenLP, out
}

// topIDs returns the ids of the k largest logits, largest first, ties by
// lower id: one pass keeping a sorted list of k.
func topIDs(logits []float32, k int) []int {
	best := make([]int, 0, k+1)
	better := func(a, b int) bool { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }
	for id := range logits {
		if len(best) == k && !better(id, best[k-1]) {
			continue
		}
		at := sort.Search(len(best), func(i int) bool { return better(id, best[i]) })
		best = append(best, 0)
		copy(best[at+1:], best[at:])
		best[at] = id
		if len(best) > k {
			best = best[:k]
		}
	}
	return best
}
