package coordinator

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// The token loop without the leader on it (the default; see
// Config.LeaderIssuesSteps): the last stage sends each token straight to
// the first stage as the next step's input, and to the coordinators, and
// the leader commits what arrives behind the pipeline, many tokens in one
// Raft entry. What the pipeline ran past the committed tokens is never
// trusted by itself: every re-issue (a new epoch after a failover, a new
// leader, a stalled step) comes in a new epoch, from the committed
// tokens, and the stages rewind to it; runs are deterministic (greedy, or
// the generator state carried in each committed token), so the tokens run
// again are the same, and a token the old run sent but no leader
// committed is committed now.

// direct says whether the last stage sends each next step itself.
func (l *leader) direct() bool { return !l.cfg.LeaderIssuesSteps }

// anyGenerated says whether an active session has generated a token.
func (l *leader) anyGenerated() bool {
	found := false
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		for _, s := range st.GetSessions() {
			if s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE && len(s.GetGenerated()) > 0 {
				found = true
			}
		}
	})
	return found
}

// stallsBeforeNewEpoch is how many step timeouts in a row a session that
// has generated tokens may go without a commit, with no sign of the
// pipeline running ahead, before its step is re-issued in a new epoch
// anyway (the tokens past the commit could all have been lost).
const stallsBeforeNewEpoch = 3

// ranAhead says whether session s's stalled step must be re-issued in a
// new epoch: tokens came past its next position (the pipeline runs ahead
// of tokens this leader never got, and the stages would drop a re-issue
// in this epoch), or it stalled stallsBeforeNewEpoch times in a row after
// its first token. Otherwise the step is re-issued in this epoch, as
// before: a prompt whose prefill outlasts the step timeout must not be
// restarted by each new epoch.
func (l *leader) ranAhead(s *tabshardv1.Session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stalls[s.GetId()]++
	if l.ahead[s.GetId()] || (len(s.GetGenerated()) > 0 && l.stalls[s.GetId()] >= stallsBeforeNewEpoch) {
		delete(l.stalls, s.GetId())
		return true
	}
	return false
}

// newEpochForReissue commits the current plan again as a new epoch, when
// a session is active, so that the pending steps are re-issued from the
// committed tokens once every primary runs the epoch (reissueWhenReady):
// the stages then drop whatever ran in an older epoch.
func (l *leader) newEpochForReissue(ctx context.Context, why string) {
	if l.activeSessions() == 0 {
		return
	}
	l.propose.Lock()
	var c *tabshardv1.CommitPlan
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		if st.GetPlan() != nil {
			c = &tabshardv1.CommitPlan{Plan: proto.Clone(st.GetPlan()).(*tabshardv1.Plan), ExpectedEpoch: st.GetEpoch()}
		}
	})
	var err error
	if c != nil {
		err = l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_CommitPlan{CommitPlan: c}})
	}
	l.propose.Unlock()
	switch {
	case c == nil:
		return
	case errors.Is(err, state.ErrStaleEpoch):
		return // another plan moved the epoch on: its re-issue follows
	case errors.Is(err, state.ErrUnknownWorker):
		l.log.Debug("no new epoch to re-issue steps in: a stage waits for a worker", "why", why, "err", err)
		return
	case err != nil:
		l.log.Warn("no new epoch to re-issue steps in", "why", why, "err", err)
		return
	}
	l.mu.Lock()
	clear(l.ahead)
	l.mu.Unlock()
	l.log.Info("new epoch: pending steps are re-issued from the committed tokens", "epoch", c.GetExpectedEpoch()+1, "why", why)
	l.announce()
}

// commitTokens commits the tokens that arrived together from the last
// stage's primary of the current epoch, each session's in order, in one
// Raft entry, and ends the sessions they finish: a stop token (not
// committed), a stop string or the length, each token checked as it is
// added, so that nothing past the end commits. Duplicates, tokens of
// older epochs or other senders, and tokens past a gap are rejected (a
// gap heals by a re-issue: the step timeout).
func (l *leader) commitTokens(ctx context.Context, ts []*tabshardv1.Token) {
	if !l.node.IsLeader() {
		return
	}
	received := time.Now() // wall time, for the metrics only
	epoch, last, sessions := l.tokenViews(ts)
	var batch []*tabshardv1.AppendToken
	var committed []*tabshardv1.Token
	ends := map[string]string{} // session → why it ends
	for _, t := range ts {
		s := sessions[t.GetSessionId()]
		switch {
		case t.GetEpoch() != epoch:
			l.rejectToken(t, "stale epoch")
		case last == "" || t.GetProducerWorkerId() != last:
			l.rejectToken(t, "not from the last stage's primary")
		case ends[t.GetSessionId()] != "" || s == nil:
			// the last stage ran past the session's end before it knew
		case l.finish(s, nil) != "":
			// ended by what committed already (its end was not committed:
			// a lost leadership, say): end it now, commit nothing past it
			ends[s.GetId()] = l.finish(s, nil)
		case t.GetPosition() > state.NextPosition(s):
			l.reject("duplicate or out-of-order token")
			l.mu.Lock()
			l.ahead[s.GetId()] = true
			l.mu.Unlock()
		case t.GetPosition() != state.NextPosition(s):
			l.reject("duplicate or out-of-order token")
		case l.finish(s, t) == "stop":
			ends[s.GetId()] = "stop"
		default:
			batch = append(batch, &tabshardv1.AppendToken{SessionId: s.GetId(), Position: t.GetPosition(), Token: t.GetId(),
				RngState: t.GetRngState(), Logprobs: sessionLogprobs(s, t)})
			committed = append(committed, t)
			s.Generated = append(s.Generated, t.GetId())
			if reason := l.finish(s, nil); reason != "" {
				ends[s.GetId()] = reason
			}
		}
	}
	if len(batch) > 0 {
		err := l.apply(ctx, &tabshardv1.Command{Change: &tabshardv1.Command_AppendTokens{AppendTokens: &tabshardv1.AppendTokens{Tokens: batch}}})
		if err != nil {
			l.log.Debug("tokens not committed", "tokens", len(batch), "err", err)
			return
		}
		l.metrics.TokenIssue.WithLabelValues("commit").Observe(time.Since(received).Seconds())
	}
	l.afterCommit(committed)
	for id, reason := range ends {
		l.end(ctx, id, reason)
	}
}

// tokenViews reads what commitTokens checks tokens against: the epoch,
// the last stage's primary, and a copy of each active session the tokens
// name.
func (l *leader) tokenViews(ts []*tabshardv1.Token) (epoch uint64, last string, sessions map[string]*tabshardv1.Session) {
	sessions = map[string]*tabshardv1.Session{}
	l.machine.Read(func(st *tabshardv1.ClusterState) {
		epoch = st.GetEpoch()
		if stages := st.GetPlan().GetStages(); len(stages) > 0 {
			last = stages[len(stages)-1].GetDeviceId()
		}
		for _, t := range ts {
			id := t.GetSessionId()
			if _, ok := sessions[id]; ok {
				continue
			}
			if s := state.Session(st, id); s != nil && s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE {
				sessions[id] = proto.Clone(s).(*tabshardv1.Session)
			}
		}
	})
	return epoch, last, sessions
}

// afterCommit counts the committed tokens and records their sessions'
// progress (what the step timeout watches) and step times: a step is the
// last stage's time from one token of a session to the next (the
// coordinator is off the path, and its commits may group tokens), a trip
// through the stages' hops only.
func (l *leader) afterCommit(committed []*tabshardv1.Token) {
	now := l.now()
	l.mu.Lock()
	for _, t := range committed {
		l.progress[t.GetSessionId()] = now
		delete(l.stalls, t.GetSessionId())
	}
	l.mu.Unlock()
	for _, t := range committed {
		l.metrics.Tokens.Inc()
		l.metrics.TokensPerSecond.Set(l.rate.observe(now))
		l.observeStepTime(t, time.Duration(t.GetLoopMicros())*time.Microsecond, max(len(t.GetStageMicros()), 1))
	}
}
