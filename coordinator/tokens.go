package coordinator

import (
	"context"
	"sync"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxTokenBatch is the most tokens the leader takes off its queue at once.
const maxTokenBatch = 1024

// gatherTokens returns t and the tokens queued behind it.
func gatherTokens(t *tabshardv1.Token, queue <-chan *tabshardv1.Token) []*tabshardv1.Token {
	out := []*tabshardv1.Token{t}
	for len(out) < maxTokenBatch {
		select {
		case t := <-queue:
			out = append(out, t)
		default:
			return out
		}
	}
	return out
}

// onTokens commits tokens that arrived together: each session's in order,
// the sessions at once, so that their Raft commits share log writes and
// their next steps go out together (a stage's batch of B sessions yields B
// tokens at once).
func (l *leader) onTokens(ctx context.Context, ts []*tabshardv1.Token) {
	if l.direct() {
		l.commitTokens(ctx, ts)
		return
	}
	if len(ts) == 1 {
		l.onToken(ctx, ts[0])
		return
	}
	bySession := map[string][]*tabshardv1.Token{}
	var order []string
	for _, t := range ts {
		id := t.GetSessionId()
		if _, ok := bySession[id]; !ok {
			order = append(order, id)
		}
		bySession[id] = append(bySession[id], t)
	}
	var wg sync.WaitGroup
	for _, id := range order {
		wg.Go(func() {
			for _, t := range bySession[id] {
				l.onToken(ctx, t)
			}
		})
	}
	wg.Wait()
}
