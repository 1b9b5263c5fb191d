package worker

// Penalties are llama.cpp's repetition penalties (llama_sampler_penalties),
// applied to the logits of the tokens in Recent: a token seen c times has
// its logit divided by Repeat when positive and multiplied by it when
// negative (Repeat 1 or 0: off), then lowered by c*Frequency + Presence.
type Penalties struct {
	Repeat, Frequency, Presence float32
	// Recent is the window of context the penalties look at, oldest first.
	Recent []int
}

// Active reports whether applying p changes anything.
func (p Penalties) Active() bool {
	return len(p.Recent) > 0 && ((p.Repeat != 1 && p.Repeat != 0) || p.Frequency != 0 || p.Presence != 0)
}

// Apply penalises logits in place.
func (p Penalties) Apply(logits []float32) {
	if !p.Active() {
		return
	}
	counts := map[int]int{}
	for _, id := range p.Recent {
		if id >= 0 && id < len(logits) {
			counts[id]++
		}
	}
	for id, c := range counts {
		if p.Repeat != 1 && p.Repeat != 0 {
			if logits[id] <= 0 {
				logits[id] *= p.Repeat
			} else {
				logits[id] /= p.Repeat
			}
		}
		logits[id] -= float32(c)*p.Frequency + p.Presence
	}
}
