package tokenizer

import (
	"sort"
	"strings"
)

// specials are the tokens matched in text before the normal algorithm
// runs, as llama.cpp's tokenizer_st_partition does: USER_DEFINED tokens
// always, CONTROL tokens when the caller parses special tokens (a chat
// template's rendered prompt).
type specials struct {
	// byFirst lists, by first byte, the candidates longest first.
	byFirst map[byte][]special
}

type special struct {
	text    string
	id      int
	control bool
}

func newSpecials(text []string, types []int32) specials {
	s := specials{byFirst: map[byte][]special{}}
	for id, ty := range types {
		if (ty != TypeControl && ty != TypeUserDefined) || text[id] == "" {
			continue
		}
		c := special{text: text[id], id: id, control: ty == TypeControl}
		s.byFirst[c.text[0]] = append(s.byFirst[c.text[0]], c)
	}
	for _, list := range s.byFirst {
		sort.SliceStable(list, func(i, j int) bool { return len(list[i].text) > len(list[j].text) })
	}
	return s
}

// match returns the longest special token at the start of text.
func (s specials) match(text string, control bool) (special, bool) {
	for _, c := range s.byFirst[text[0]] {
		if (control || !c.control) && strings.HasPrefix(text, c.text) {
			return c, true
		}
	}
	return special{}, false
}

// partition calls raw for each run of text between special tokens and tok
// for each special token, in order.
func (s specials) partition(text string, control bool, raw func(string), tok func(int)) {
	if len(s.byFirst) == 0 {
		raw(text)
		return
	}
	start := 0
	for i := 0; i < len(text); {
		c, ok := s.match(text[i:], control)
		if !ok {
			i++
			continue
		}
		if start < i {
			raw(text[start:i])
		}
		tok(c.id)
		i += len(c.text)
		start = i
	}
	if start < len(text) {
		raw(text[start:])
	}
}
