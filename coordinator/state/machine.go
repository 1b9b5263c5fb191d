// Package state is the coordinators' replicated state machine: a
// ClusterState changed only by Commands, deterministically, so that every
// coordinator that applies the same Raft log holds the same state. It also
// holds the pure decisions the leader takes from that state (placement and
// failover), which the daemon proposes as Commands.
package state

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Sentinel errors of rejected commands. A rejection is deterministic: every
// coordinator rejects the same command, and the state does not change.
var (
	ErrStaleEpoch     = errors.New("stale epoch")
	ErrUnknownWorker  = errors.New("unknown worker")
	ErrUnknownSession = errors.New("unknown session")
	ErrDuplicate      = errors.New("duplicate")
	ErrPosition       = errors.New("token out of order")
	ErrBadCommand     = errors.New("bad command")
)

// keepSessions bounds how many finished sessions the state remembers (for
// clients that reconnect to read the rest of their stream).
const keepSessions = 256

// keepFailovers bounds the failover history.
const keepFailovers = 256

// Machine holds a ClusterState and applies commands to it. It is safe for
// concurrent use; readers get copies.
type Machine struct {
	mu sync.RWMutex
	st *tabshardv1.ClusterState
}

// NewMachine returns an empty state.
func NewMachine() *Machine { return &Machine{st: &tabshardv1.ClusterState{}} }

// State returns a copy of the current state.
func (m *Machine) State() *tabshardv1.ClusterState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return proto.Clone(m.st).(*tabshardv1.ClusterState)
}

// Read calls fn with the current state, which fn must not modify or keep.
func (m *Machine) Read(fn func(*tabshardv1.ClusterState)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	fn(m.st)
}

// Snapshot marshals the state.
func (m *Machine) Snapshot() ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return proto.MarshalOptions{Deterministic: true}.Marshal(m.st)
}

// Restore replaces the state with a snapshot.
func (m *Machine) Restore(b []byte) error {
	st := &tabshardv1.ClusterState{}
	if err := proto.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%w: snapshot: %v", ErrBadCommand, err)
	}
	m.mu.Lock()
	m.st = st
	m.mu.Unlock()
	return nil
}

// Apply applies one command, or rejects it and changes nothing.
func (m *Machine) Apply(cmd *tabshardv1.Command) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return apply(m.st, cmd)
}

func apply(st *tabshardv1.ClusterState, cmd *tabshardv1.Command) error {
	switch c := cmd.GetChange().(type) {
	case *tabshardv1.Command_Admit:
		return admit(st, c.Admit, cmd.GetUnixMs())
	case *tabshardv1.Command_Expire:
		return expire(st, c.Expire)
	case *tabshardv1.Command_CommitPlan:
		return commitPlan(st, c.CommitPlan)
	case *tabshardv1.Command_StartSession:
		return startSession(st, c.StartSession, cmd.GetUnixMs())
	case *tabshardv1.Command_AppendToken:
		return appendToken(st, c.AppendToken)
	case *tabshardv1.Command_AppendTokens:
		appendTokens(st, c.AppendTokens)
		return nil
	case *tabshardv1.Command_EndSession:
		return endSession(st, c.EndSession, cmd.GetUnixMs())
	case *tabshardv1.Command_SetModel:
		st.Model = c.SetModel.GetModel()
		return nil
	case *tabshardv1.Command_SetSecrets:
		return setSecrets(st, c.SetSecrets)
	}
	return fmt.Errorf("%w: empty command", ErrBadCommand)
}

// Member finds a member by id.
func Member(st *tabshardv1.ClusterState, id string) *tabshardv1.Member {
	for _, m := range st.GetMembers() {
		if m.GetWorkerId() == id {
			return m
		}
	}
	return nil
}

// Session finds a session by id.
func Session(st *tabshardv1.ClusterState, id string) *tabshardv1.Session {
	for _, s := range st.GetSessions() {
		if s.GetId() == id {
			return s
		}
	}
	return nil
}

// NextWorkerID is the id the next admitted worker gets.
func NextWorkerID(st *tabshardv1.ClusterState) string {
	return fmt.Sprintf("w%d", st.GetNextWorker()+1)
}

func admit(st *tabshardv1.ClusterState, a *tabshardv1.AdmitWorker, now int64) error {
	if a.GetWorkerId() != NextWorkerID(st) {
		return fmt.Errorf("%w: worker id %q, want %q", ErrDuplicate, a.GetWorkerId(), NextWorkerID(st))
	}
	st.NextWorker++
	st.Members = append(st.Members, &tabshardv1.Member{
		WorkerId: a.GetWorkerId(), Name: a.GetName(), Capabilities: a.GetCapabilities(),
		State: tabshardv1.MemberState_MEMBER_STATE_ACTIVE, JoinedUnixMs: now, Epoch: st.GetEpoch(), UserNkey: a.GetUserNkey(),
	})
	return nil
}

// setSecrets keeps the first secrets set: every coordinator then derives
// the same bus keys and checks the same join token.
func setSecrets(st *tabshardv1.ClusterState, c *tabshardv1.SetSecrets) error {
	sec := c.GetSecrets()
	switch {
	case len(st.GetSecrets().GetClusterSecret()) > 0:
		return fmt.Errorf("%w: the cluster's secrets are already set", ErrDuplicate)
	case len(sec.GetClusterSecret()) != SecretBytes || sec.GetJoinToken() == "":
		return fmt.Errorf("%w: secrets need a %d-byte cluster secret and a join token (got %d bytes)", ErrBadCommand, SecretBytes, len(sec.GetClusterSecret()))
	}
	st.Secrets = sec
	return nil
}

// SecretBytes is the size of the cluster secret.
const SecretBytes = 32

func expire(st *tabshardv1.ClusterState, e *tabshardv1.ExpireWorker) error {
	m := Member(st, e.GetWorkerId())
	switch {
	case m == nil:
		return fmt.Errorf("%w: %q", ErrUnknownWorker, e.GetWorkerId())
	case m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE:
		return fmt.Errorf("%w: %s is already %s", ErrDuplicate, m.GetWorkerId(), m.GetState())
	case e.GetState() != tabshardv1.MemberState_MEMBER_STATE_EXPIRED && e.GetState() != tabshardv1.MemberState_MEMBER_STATE_LEFT:
		return fmt.Errorf("%w: expire to state %s", ErrBadCommand, e.GetState())
	}
	m.State = e.GetState()
	m.Epoch = st.GetEpoch()
	return nil
}

func commitPlan(st *tabshardv1.ClusterState, c *tabshardv1.CommitPlan) error {
	if c.GetExpectedEpoch() != st.GetEpoch() {
		return fmt.Errorf("%w: plan made in epoch %d, state is in epoch %d", ErrStaleEpoch, c.GetExpectedEpoch(), st.GetEpoch())
	}
	if len(c.GetPlan().GetStages()) == 0 {
		return fmt.Errorf("%w: a plan with no stages", ErrBadCommand)
	}
	for _, s := range c.GetPlan().GetStages() {
		for _, id := range append([]string{s.GetDeviceId()}, s.GetStandbyDeviceIds()...) {
			if m := Member(st, id); m == nil || m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
				return fmt.Errorf("%w: stage %d names %q, not an active member", ErrUnknownWorker, s.GetIndex(), id)
			}
		}
	}
	st.Epoch++
	st.Plan = c.GetPlan()
	recordPrimaries(st)
	for _, f := range c.GetFailovers() {
		f.Epoch = st.Epoch
		st.Failovers = append(st.Failovers, f)
	}
	if n := len(st.Failovers); n > keepFailovers {
		st.Failovers = st.Failovers[n-keepFailovers:]
	}
	return nil
}

// keepPrimaries bounds the primary changes kept.
const keepPrimaries = 1024

// recordPrimaries notes each stage whose primary the new plan changed.
func recordPrimaries(st *tabshardv1.ClusterState) {
	for _, s := range st.GetPlan().GetStages() {
		if w, ok := lastPrimary(st.GetPrimaries(), s.GetIndex()); !ok || w != s.GetDeviceId() {
			st.Primaries = append(st.Primaries, &tabshardv1.PrimaryChange{Epoch: st.GetEpoch(), Stage: s.GetIndex(), WorkerId: s.GetDeviceId()})
		}
	}
	if n := len(st.Primaries); n > keepPrimaries {
		st.Primaries = st.Primaries[n-keepPrimaries:]
	}
}

// lastPrimary is the primary the newest change names for stage.
func lastPrimary(changes []*tabshardv1.PrimaryChange, stage uint32) (string, bool) {
	for i := len(changes) - 1; i >= 0; i-- {
		if changes[i].GetStage() == stage {
			return changes[i].GetWorkerId(), true
		}
	}
	return "", false
}

func startSession(st *tabshardv1.ClusterState, c *tabshardv1.StartSession, now int64) error {
	s := c.GetSession()
	switch {
	case s.GetId() == "":
		return fmt.Errorf("%w: a session with no id", ErrBadCommand)
	case Session(st, s.GetId()) != nil:
		return fmt.Errorf("%w: session id %q is taken", ErrDuplicate, s.GetId())
	case len(s.GetPrompt()) == 0:
		return fmt.Errorf("%w: session %s has an empty prompt", ErrBadCommand, s.GetId())
	}
	st.NextSession++
	s.State = tabshardv1.SessionState_SESSION_STATE_ACTIVE
	s.Generated = nil
	s.CreatedUnixMs, s.EndedUnixMs = now, 0
	st.Sessions = append(st.Sessions, s)
	pruneSessions(st)
	return nil
}

// pruneSessions forgets the oldest finished sessions past keepSessions.
func pruneSessions(st *tabshardv1.ClusterState) {
	excess := len(st.Sessions) - keepSessions
	if excess <= 0 {
		return
	}
	kept := st.Sessions[:0]
	for _, s := range st.Sessions {
		if excess > 0 && s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE {
			excess--
			continue
		}
		kept = append(kept, s)
	}
	st.Sessions = kept
}

// NextPosition is the position of the session's next token.
func NextPosition(s *tabshardv1.Session) uint32 {
	return uint32(len(s.GetPrompt()) + len(s.GetGenerated()))
}

func appendToken(st *tabshardv1.ClusterState, c *tabshardv1.AppendToken) error {
	s := Session(st, c.GetSessionId())
	switch {
	case s == nil:
		return fmt.Errorf("%w: %q", ErrUnknownSession, c.GetSessionId())
	case s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE:
		return fmt.Errorf("%w: session %s is %s", ErrPosition, s.GetId(), s.GetState())
	case c.GetPosition() != NextPosition(s):
		return fmt.Errorf("%w: token for position %d, session %s expects %d", ErrPosition, c.GetPosition(), s.GetId(), NextPosition(s))
	}
	s.Generated = append(s.Generated, c.GetToken())
	if s.GetSampling().GetLogprobs() {
		lp := c.GetLogprobs()
		if lp == nil {
			lp = &tabshardv1.TokenLogprobs{Logprob: float32(math.NaN())} // a producer that computed none
		}
		s.Logprobs = append(s.Logprobs, lp)
	}
	if s.Sampling == nil {
		s.Sampling = &tabshardv1.Sampling{}
	}
	s.Sampling.RngState = c.GetRngState()
	return nil
}

// appendTokens commits each token whose position is its session's next,
// in order, and skips the others: a batch's duplicates and stale tokens
// change nothing, and the rest still commit.
func appendTokens(st *tabshardv1.ClusterState, c *tabshardv1.AppendTokens) {
	for _, t := range c.GetTokens() {
		_ = appendToken(st, t) // an error is a token skipped, the state unchanged
	}
}

func endSession(st *tabshardv1.ClusterState, c *tabshardv1.EndSession, now int64) error {
	s := Session(st, c.GetSessionId())
	switch {
	case s == nil:
		return fmt.Errorf("%w: %q", ErrUnknownSession, c.GetSessionId())
	case s.GetState() != tabshardv1.SessionState_SESSION_STATE_ACTIVE:
		return fmt.Errorf("%w: session %s already %s", ErrDuplicate, s.GetId(), s.GetState())
	case c.GetState() != tabshardv1.SessionState_SESSION_STATE_DONE && c.GetState() != tabshardv1.SessionState_SESSION_STATE_FAILED:
		return fmt.Errorf("%w: end session in state %s", ErrBadCommand, c.GetState())
	}
	s.State = c.GetState()
	s.FinishReason = c.GetFinishReason()
	s.EndedUnixMs = now
	return nil
}
