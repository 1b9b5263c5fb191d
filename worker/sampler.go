package worker

import (
	"math"
	"sort"

	"github.com/tabshard/tabshard/kernels"
)

// RNG is llama2.c's xorshift64* generator. Its whole state is one word, so
// a sampler's state can be handed to another worker on failover.
type RNG struct{ State uint64 }

// Uint32 advances the generator and returns the top 32 bits of the
// scrambled state.
func (r *RNG) Uint32() uint32 {
	r.State ^= r.State >> 12
	r.State ^= r.State << 25
	r.State ^= r.State >> 27
	return uint32((r.State * 0x2545F4914F6CDD1D) >> 32)
}

// Float32 returns a number in [0, 1) from the next 24 bits.
func (r *RNG) Float32() float32 { return float32(r.Uint32()>>8) / 16777216.0 }

// Sampler picks the next token from logits exactly as llama2.c's run.c
// does: argmax at temperature 0, otherwise softmax of logits/temperature
// and one random draw, restricted to the top-p nucleus when 0 < TopP < 1.
// Before that, as llama.cpp's sampler chain does, it adds Bias and applies
// Penalties; with neither set it is llama2.c's sampler to the bit.
type Sampler struct {
	Temperature float32
	TopP        float32
	RNG         RNG
	// Bias is added to the logits of its token ids (OpenAI's logit_bias).
	Bias map[int]float32
	// Penalties discourage the tokens of the recent context.
	Penalties Penalties
	kept      []candidate
}

type candidate struct {
	id   int
	prob float32
}

// NewSampler returns a sampler seeded with seed.
func NewSampler(temperature, topP float32, seed uint64) *Sampler {
	return &Sampler{Temperature: temperature, TopP: topP, RNG: RNG{State: seed}}
}

// Sample returns the next token. logits is overwritten (with
// probabilities unless the temperature is 0).
func (s *Sampler) Sample(logits []float32) int {
	for id, b := range s.Bias {
		if id >= 0 && id < len(logits) {
			logits[id] += b
		}
	}
	s.Penalties.Apply(logits)
	if s.Temperature == 0 {
		return kernels.Argmax(logits)
	}
	scale(logits, s.Temperature)
	kernels.Softmax(logits)
	coin := s.RNG.Float32()
	if s.TopP <= 0 || s.TopP >= 1 {
		return sampleMult(logits, coin)
	}
	return s.sampleTopP(logits, coin)
}

// scale divides logits by temperature as llama2.c does. When that
// overflows the largest logit (temperatures near the smallest float32,
// 1e-45 … 1e-38, turn a logit of a few units into ±Inf, and softmax into
// NaN), it divides the distances from the largest logit instead: the same
// softmax in exact arithmetic, whose limit is the argmax, without the
// overflow. Smaller logits that overflow to -Inf are harmless (their
// probability is 0 either way), so llama2.c's arithmetic is kept there.
func scale(logits []float32, temperature float32) {
	hi := logits[kernels.Argmax(logits)]
	if !isFinite(hi / temperature) {
		for i := range logits {
			logits[i] = (logits[i] - hi) / temperature
		}
		return
	}
	for i := range logits {
		logits[i] /= temperature
	}
}

func isFinite(v float32) bool { return !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) }

// sampleMult returns the first index whose cumulative probability exceeds
// coin.
func sampleMult(probs []float32, coin float32) int {
	var cdf float32
	for i, p := range probs {
		cdf += p
		if coin < cdf {
			return i
		}
	}
	return len(probs) - 1
}

// sampleTopP samples from the smallest set of most likely tokens whose
// probabilities add up to more than TopP. Tokens below
// (1-TopP)/(n-1) cannot be in that set and are dropped before sorting.
func (s *Sampler) sampleTopP(probs []float32, coin float32) int {
	cutoff := (1 - s.TopP) / float32(len(probs)-1)
	s.kept = s.kept[:0]
	for i, p := range probs {
		if p >= cutoff {
			s.kept = append(s.kept, candidate{i, p})
		}
	}
	sort.SliceStable(s.kept, func(a, b int) bool { return s.kept[a].prob > s.kept[b].prob })
	var total float32
	last := len(s.kept) - 1
	for i, c := range s.kept {
		total += c.prob
		if total > s.TopP {
			last = i
			break
		}
	}
	r := coin * total
	var cdf float32
	for _, c := range s.kept[:last+1] {
		cdf += c.prob
		if r < cdf {
			return c.id
		}
	}
	return s.kept[last].id
}
