package tokenizer

// pairRule says whether the adjacent tokens left and right merge, into which
// token, and with what priority: the lowest priority merges first.
type pairRule func(left, right int) (merged int, prio float64, ok bool)

// candidate is a possible merge of the symbols at positions left and right,
// valid while those positions still hold lid and rid side by side.
type candidate struct {
	prio        float64
	left, right int
	lid, rid    int
	merged      int
}

// candidates is a min-heap ordered by priority, then by position, so that
// among equal priorities the leftmost pair merges first. (Typed rather than
// container/heap, whose interface boxes every candidate.)
type candidates []candidate

func (q candidates) less(i, j int) bool {
	if q[i].prio != q[j].prio {
		return q[i].prio < q[j].prio
	}
	return q[i].left < q[j].left
}

func (q *candidates) push(c candidate) {
	*q = append(*q, c)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *candidates) pop() candidate {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		least := i
		for _, child := range []int{2*i + 1, 2*i + 2} {
			if child < len(h) && h.less(child, least) {
				least = child
			}
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	*q = h
	return top
}

// merger is a doubly linked list of symbols being merged.
type merger struct {
	syms       []int
	prev, next []int // -1 at the ends
	dead       []bool
	rule       pairRule
	queue      candidates
}

// mergeAll repeatedly merges the best adjacent pair of syms that rule allows
// (lowest priority, leftmost on ties) until none is left, and returns the
// remaining symbols. It is the heap form of run.c's quadratic loop: each
// step picks what that loop would pick.
func mergeAll(syms []int, rule pairRule) []int {
	if len(syms) < 2 {
		return syms
	}
	m := newMerger(syms, rule)
	for i := 0; i+1 < len(syms); i++ {
		m.consider(i, i+1)
	}
	for len(m.queue) > 0 {
		c := m.queue.pop()
		if m.current(c) {
			m.apply(c)
		}
	}
	return m.result()
}

func newMerger(syms []int, rule pairRule) *merger {
	n := len(syms)
	m := &merger{syms: syms, prev: make([]int, n), next: make([]int, n), dead: make([]bool, n), rule: rule}
	for i := range syms {
		m.prev[i], m.next[i] = i-1, i+1
	}
	m.next[n-1] = -1
	return m
}

func (m *merger) consider(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	lid, rid := m.syms[left], m.syms[right]
	merged, prio, ok := m.rule(lid, rid)
	if ok {
		m.queue.push(candidate{prio: prio, left: left, right: right, lid: lid, rid: rid, merged: merged})
	}
}

// current reports whether c still describes two live neighbours.
func (m *merger) current(c candidate) bool {
	return !m.dead[c.left] && !m.dead[c.right] && m.next[c.left] == c.right &&
		m.syms[c.left] == c.lid && m.syms[c.right] == c.rid
}

func (m *merger) apply(c candidate) {
	m.syms[c.left] = c.merged
	m.dead[c.right] = true
	after := m.next[c.right]
	m.next[c.left] = after
	if after >= 0 {
		m.prev[after] = c.left
	}
	m.consider(m.prev[c.left], c.left)
	m.consider(c.left, after)
}

func (m *merger) result() []int {
	out := m.syms[:0]
	for i := 0; i >= 0; i = m.next[i] {
		out = append(out, m.syms[i])
	}
	return out
}
