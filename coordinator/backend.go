package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// backend serves the HTTP API from this coordinator's state.
type backend struct{ c *Coordinator }

func (b backend) Models() []api.ModelInfo {
	return []api.ModelInfo{{ID: b.c.modelName, ContextLength: b.c.contextLength(), Vocab: b.c.model.Config.Vocab, Created: b.c.started.Unix()}}
}

func (b backend) checkModel(name string) error {
	if name != b.c.modelName && name != "" {
		return fmt.Errorf("%w: %q (this coordinator serves %q)", api.ErrUnknownModel, name, b.c.modelName)
	}
	return nil
}

func (b backend) Tokenizer(name string) (api.Tokenizer, error) {
	if err := b.checkModel(name); err != nil {
		return nil, err
	}
	chat, _, _ := b.c.model.ChatTemplate() // an unusable template says why on chat requests
	return api.WrapTokenizer(b.c.model.Tokenizer, chat), nil
}

// StartSession starts a generation through the leader: directly when this
// coordinator leads, else by a NATS request to whichever does.
func (b backend) StartSession(ctx context.Context, req api.SessionRequest) (string, error) {
	if err := b.checkModel(req.Model); err != nil {
		return "", err
	}
	s := &tabshardv1.Session{MaxTokens: uint32(req.MaxTokens), Sampling: sessionSampling(req), Stop: req.Stop,
		OwnerKeyHash: req.Owner.KeyHash, ResumeTokenHash: req.Owner.ResumeTokenHash}
	for _, t := range req.Prompt {
		s.Prompt = append(s.Prompt, uint32(t))
	}
	tok := b.c.model.Tokenizer
	for _, t := range []int{tok.BOS(), tok.EOS()} {
		if t >= 0 && !req.IgnoreEOS {
			s.StopTokens = append(s.StopTokens, uint32(t))
		}
	}
	if l := b.c.currentLeader(); l != nil {
		id, err := l.startSession(ctx, s)
		return id, b.unavailable(err)
	}
	reply := &tabshardv1.StartSessionReply{}
	if err := bus.Request(ctx, b.c.nc, b.c.subj.StartSession(), &tabshardv1.StartSession{Session: s}, reply); err != nil {
		return "", fmt.Errorf("%w: no leader answered: %v", api.ErrUnavailable, err)
	}
	if ms := reply.GetRetryAfterMs(); ms > 0 {
		return "", &api.OverloadedError{RetryAfter: time.Duration(ms) * time.Millisecond, Reason: reply.GetError()}
	}
	if reply.GetError() != "" {
		return "", fmt.Errorf("%w: %s", api.ErrUnavailable, reply.GetError())
	}
	return reply.GetSessionId(), nil
}

func (b backend) unavailable(err error) error {
	var over *overloadedError
	if errors.As(err, &over) {
		return &api.OverloadedError{RetryAfter: over.retryAfter, Reason: over.Error()}
	}
	if errors.Is(err, errNoPlan) {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return err
}

func (b backend) Session(_ context.Context, id string) (api.SessionInfo, error) {
	s := state.Session(b.c.machine.State(), id)
	if s == nil {
		return api.SessionInfo{}, fmt.Errorf("%w: %q", api.ErrUnknownSession, id)
	}
	info := api.SessionInfo{ID: id, Model: b.c.modelName, Created: s.GetCreatedUnixMs() / 1000,
		Owner: api.Owner{KeyHash: s.GetOwnerKeyHash(), ResumeTokenHash: s.GetResumeTokenHash()},
		Stop:  s.GetStop(), Logprobs: s.GetSampling().GetLogprobs()}
	for _, t := range s.GetPrompt() {
		info.Prompt = append(info.Prompt, int(t))
	}
	return info, nil
}

// Follow streams committed tokens as this coordinator applies them.
func (b backend) Follow(ctx context.Context, id string, from int) (<-chan api.TokenEvent, error) {
	if !b.c.hasSession(id) {
		// A session started through another coordinator may not have
		// reached this one's log yet.
		if err := b.c.waitSession(ctx, id); err != nil {
			return nil, fmt.Errorf("%w: %q", api.ErrUnknownSession, id)
		}
	}
	out := make(chan api.TokenEvent, 64)
	b.c.follows.add(id, 1)
	go func() {
		defer b.c.follows.add(id, -1)
		b.follow(ctx, id, from, out)
	}()
	return out, nil
}

// progress is what a follower reads of its session at a change: the
// token events it has not sent yet, and the end if it came.
type progress struct {
	found  bool
	events []api.TokenEvent
	ended  bool
	reason string
}

// sessionSince reads session id's tokens from index next on, copying only
// those: a commit costs each follower what changed, not the whole state.
func (c *Coordinator) sessionSince(id string, next int) progress {
	var p progress
	c.machine.Read(func(st *tabshardv1.ClusterState) {
		s := state.Session(st, id)
		if s == nil {
			return
		}
		p.found = true
		for i := next; i < len(s.GetGenerated()); i++ {
			p.events = append(p.events, tokenEvent(s, i))
		}
		p.ended = s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE
		p.reason = s.GetFinishReason()
	})
	return p
}

func (c *Coordinator) hasSession(id string) bool { return c.sessionSince(id, math.MaxInt).found }

func (b backend) follow(ctx context.Context, id string, next int, out chan<- api.TokenEvent) {
	defer close(out)
	stall := time.NewTimer(b.c.cfg.StallNotice)
	defer stall.Stop()
	for {
		changed := b.c.machine.Changed()
		s := b.c.sessionSince(id, next)
		if !s.found {
			return
		}
		if len(s.events) > 0 {
			stall.Reset(b.c.cfg.StallNotice) // progress
		}
		for _, ev := range s.events {
			select {
			case out <- ev:
				next++
			case <-ctx.Done():
				return
			}
		}
		if s.ended {
			select {
			case out <- api.TokenEvent{Index: next, FinishReason: s.reason}:
			case <-ctx.Done():
			}
			return
		}
		// A closing coordinator ends its streams without an end event, so
		// that clients resume at another one: its state will not change
		// any more.
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-b.c.done:
			return
		case <-stall.C:
			if why := b.c.stalledBecause(); why != "" {
				select {
				case out <- api.TokenEvent{Index: next, Stalled: why}:
				case <-ctx.Done():
				}
				return
			}
			stall.Reset(b.c.cfg.StallNotice)
		}
	}
}

// stalledBecause says why sessions cannot progress and what would fix it,
// or "" when nothing in the cluster's state stops them.
func (c *Coordinator) stalledBecause() string {
	gaps := state.StageGaps(c.machine.State())
	if len(gaps) == 0 {
		return ""
	}
	return strings.Join(gaps, "; ") + ": open one more worker tab (or start a worker) to take it over"
}

// State is the applied state without the cluster's secrets.
func (b backend) State() *tabshardv1.ClusterState {
	st := b.c.machine.State()
	st.Secrets = nil
	return st
}

func (b backend) Health() error { return b.c.health() }

func (b backend) ModelFile(name string) (io.ReadSeeker, time.Time, error) {
	if err := b.checkModel(name); err != nil {
		return nil, time.Time{}, err
	}
	r, err := b.c.openModelFile()
	return r, b.c.started, err
}

// sessionSampling is the replicated sampling of a request.
func sessionSampling(req api.SessionRequest) *tabshardv1.Sampling {
	sm := &tabshardv1.Sampling{Temperature: req.Temperature, TopP: req.TopP, RngState: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty, RepeatPenalty: req.RepeatPenalty,
		Logprobs: req.Logprobs, TopLogprobs: uint32(req.TopLogprobs)}
	ids := make([]int, 0, len(req.LogitBias))
	for id := range req.LogitBias {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the replicated state is the same on every coordinator
	for _, id := range ids {
		sm.LogitBias = append(sm.LogitBias, &tabshardv1.LogitBias{Token: uint32(id), Bias: req.LogitBias[id]})
	}
	return sm
}

// tokenEvent is the event of session s's generated token i.
func tokenEvent(s *tabshardv1.Session, i int) api.TokenEvent {
	ev := api.TokenEvent{Index: i, Token: int(s.GetGenerated()[i])}
	if lps := s.GetLogprobs(); i < len(lps) {
		lp := &api.TokenLogprobs{Logprob: lps[i].GetLogprob()}
		for _, t := range lps[i].GetTop() {
			lp.Top = append(lp.Top, api.TokenLogprob{Token: int(t.GetToken()), Logprob: t.GetLogprob()})
		}
		ev.Logprobs = lp
	}
	return ev
}
