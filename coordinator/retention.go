package coordinator

import (
	"context"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxPurgesPerTick bounds the purges one tick of the leader's loop makes,
// so that a new leader facing many finished sessions does not hold up its
// lease checks; the rest wait for the next ticks.
const maxPurgesPerTick = 16

// purgeFinished deletes the activation log of each session that ended at
// least SessionRetention ago, once; and first, that of a finished session
// the state forgot (it keeps the newest finished sessions only). A failed
// purge is tried again at the next tick. A session that ended and was
// forgotten before this node led is left to the log's age limit.
func (l *leader) purgeFinished(ctx context.Context) {
	due := l.purgesDue()
	// A tick spends at most half a heartbeat purging: with JetStream down,
	// each purge would wait out its API timeout and hold up the leases.
	budget := l.cfg.Heartbeat / 2
	if budget <= 0 {
		budget = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	for _, id := range due[:min(len(due), maxPurgesPerTick)] {
		if err := l.acts.DeleteSession(ctx, id); err != nil {
			l.log.Warn("purge the activation log of a finished session", "session", id, "err", err)
			if ctx.Err() != nil {
				return // out of this tick's budget: the rest wait for the next
			}
			continue
		}
		l.finished[id] = true
		l.log.Debug("activation log purged", "session", id)
	}
}

// purgesDue updates l.finished from the state and lists the sessions whose
// log is due for a purge, the forgotten ones first.
func (l *leader) purgesDue() []string {
	now, keep := l.now().UnixMilli(), l.cfg.SessionRetention.Milliseconds()
	var ripe []string
	inState := map[string]bool{}
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		for _, s := range st.GetSessions() {
			inState[s.GetId()] = true
			if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE || l.finished[s.GetId()] {
				continue
			}
			l.finished[s.GetId()] = false
			if now-s.GetEndedUnixMs() >= keep {
				ripe = append(ripe, s.GetId())
			}
		}
	})
	var forgotten []string
	for id, purged := range l.finished {
		switch {
		case inState[id]:
		case purged:
			delete(l.finished, id)
		default:
			forgotten = append(forgotten, id)
		}
	}
	return append(forgotten, ripe...)
}
