package coordinator

import (
	"context"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// purgeFinished deletes the activation log of each session that ended at
// least SessionRetention ago, once; and at once that of a finished session
// the state forgot (it keeps the newest finished sessions only). A session
// that ended and was forgotten before this node led is left to the log's
// age limit.
func (l *leader) purgeFinished(ctx context.Context) {
	now, keep := l.now().UnixMilli(), l.cfg.SessionRetention.Milliseconds()
	var due []string
	inState := map[string]bool{}
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		for _, s := range st.GetSessions() {
			inState[s.GetId()] = true
			if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE || l.finished[s.GetId()] {
				continue
			}
			l.finished[s.GetId()] = false
			if now-s.GetEndedUnixMs() >= keep {
				due = append(due, s.GetId())
			}
		}
	})
	for id, purged := range l.finished {
		if !inState[id] {
			if !purged {
				due = append(due, id)
			}
			delete(l.finished, id)
		}
	}
	for _, id := range due {
		if err := l.acts.DeleteSession(ctx, id); err != nil {
			l.log.Warn("purge the activation log of a finished session", "session", id, "err", err)
			continue
		}
		if _, ok := l.finished[id]; ok {
			l.finished[id] = true
		}
		l.log.Debug("activation log purged", "session", id)
	}
}
