package api

import "strings"

// stopFilter ends a session's text at the first occurrence of a stop
// string, which it never shows: text that could be the start of one is
// held back until the next token says whether it is.
type stopFilter struct {
	stops   []string
	pending string
}

// filter turns a decoded piece into the pieces to deliver: the piece with
// the text now known to be free of stop strings, and, when a stop string
// completes, an end piece with finish_reason "stop" after it.
func (s *stopFilter) filter(p piece) []piece {
	if len(s.stops) == 0 {
		return []piece{p}
	}
	s.pending += p.Text
	if i := s.first(); i >= 0 {
		p.Text, s.pending = s.pending[:i], ""
		if p.end() {
			p.FinishReason = "stop"
			return []piece{p}
		}
		return []piece{p, {Index: p.Index + 1, Token: -1, FinishReason: "stop"}}
	}
	keep := 0
	if !p.end() {
		keep = s.heldBack()
	}
	cut := len(s.pending) - keep
	p.Text, s.pending = s.pending[:cut], s.pending[cut:]
	return []piece{p}
}

// first is the earliest position where a stop string starts in pending,
// or -1.
func (s *stopFilter) first() int {
	at := -1
	for _, stop := range s.stops {
		if i := strings.Index(s.pending, stop); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	return at
}

// heldBack is the length of the longest end of pending that begins a stop
// string.
func (s *stopFilter) heldBack() int {
	longest := 0
	for _, stop := range s.stops {
		for k := min(len(stop)-1, len(s.pending)); k > longest; k-- {
			if strings.HasPrefix(stop, s.pending[len(s.pending)-k:]) {
				longest = k
				break
			}
		}
	}
	return longest
}
