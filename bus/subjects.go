package bus

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// subjectRoot is the first token of every tabshard subject.
const subjectRoot = "tabshard"

// maxNameLen bounds cluster and session names; JetStream stream names (which
// embed the cluster) must stay well under the server's 255 bytes.
const maxNameLen = 128

// Subjects names the NATS subjects of one cluster, all under
// "tabshard.<Cluster>.". See docs/coordinator.md for who sends what.
type Subjects struct {
	// Cluster must be a valid name (see ValidateCluster).
	Cluster string
}

// NewSubjects returns the subjects of cluster after validating its name.
func NewSubjects(cluster string) (Subjects, error) {
	if err := ValidateCluster(cluster); err != nil {
		return Subjects{}, err
	}
	return Subjects{Cluster: cluster}, nil
}

func (s Subjects) prefix() string { return subjectRoot + "." + s.Cluster + "." }

// Join is the request/reply subject a follower forwards a worker's join
// (already checked against the join token, which is not sent) to the
// leader on. Coordinators only.
func (s Subjects) Join() string { return s.prefix() + "ctl.join" }

// Heartbeat is where worker publishes its Heartbeat to every coordinator.
func (s Subjects) Heartbeat(worker string) string { return s.prefix() + "hb." + worker }

// Heartbeats matches every worker's heartbeats.
func (s Subjects) Heartbeats() string { return s.prefix() + "hb.*" }

// Epoch is where the leader publishes EpochAnnouncement. Coordinators only.
func (s Subjects) Epoch() string { return s.prefix() + "epoch" }

// Token is where worker, as the last stage, publishes each sampled Token.
func (s Subjects) Token(worker string) string { return s.prefix() + "token." + worker }

// Tokens matches every worker's tokens.
func (s Subjects) Tokens() string { return s.prefix() + "token.*" }

// StartSession is the request/reply subject for starting a session.
// Coordinators only.
func (s Subjects) StartSession() string { return s.prefix() + "ctl.start" }

// CancelSession is the request/reply subject for ending a session whose
// client went away.
func (s Subjects) CancelSession() string { return s.prefix() + "ctl.cancel" }

// AddCoordinator is where a follower forwards a joining coordinator's
// request (already checked against the join token) to the leader.
// Coordinators only.
func (s Subjects) AddCoordinator() string { return s.prefix() + "ctl.add-coordinator" }

// Control matches every control subject (ctl.*), which only coordinators
// may publish or read.
func (s Subjects) Control() string { return s.prefix() + "ctl.>" }

// Activation is the subject of producer's input to stage in session;
// producer is a worker id or CoordinatorProducer.
func (s Subjects) Activation(session string, stage uint32, producer string) string {
	return s.prefix() + "act." + session + "." + strconv.FormatUint(uint64(stage), 10) + "." + producer
}

// StageInputs matches every input of stage in session, whoever produced it:
// what replay reads.
func (s Subjects) StageInputs(session string, stage uint32) string {
	return s.prefix() + "act." + session + "." + strconv.FormatUint(uint64(stage), 10) + ".*"
}

// Activations matches every activation of the cluster: what the activation
// log's stream captures.
func (s Subjects) Activations() string { return s.prefix() + "act.>" }

// ActivationsFor matches the inputs of stage in every session: what a stage
// worker subscribes to.
func (s Subjects) ActivationsFor(stage uint32) string {
	return s.prefix() + "act.*." + strconv.FormatUint(uint64(stage), 10) + ".*"
}

// SessionActivations matches every activation of one session, all stages.
func (s Subjects) SessionActivations(session string) string {
	return s.prefix() + "act." + session + ".>"
}

// Sender is the last token of subject: the worker (or CoordinatorProducer)
// that published a heartbeat, token or activation, as the server's
// permissions guarantee.
func Sender(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

// CheckSender fails with ErrForged when a message's own sender field
// (claimed) differs from the sender its subject names.
func CheckSender(subject, claimed string) error {
	if got := Sender(subject); got != claimed {
		return fmt.Errorf("%w: %q claims to be from %q", ErrForged, subject, claimed)
	}
	return nil
}

// ValidateCluster reports whether cluster can name a cluster: a non-empty
// subject token that can also be part of a JetStream stream name.
func ValidateCluster(cluster string) error { return validateName("cluster", cluster) }

// ValidateSession reports whether session can name a session: a non-empty
// subject token.
func ValidateSession(session string) error { return validateName("session", session) }

// validateName rejects what would break a subject token ('.', '*', '>',
// whitespace, control characters) or a stream name or file path ('/', '\\').
func validateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, kind)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: %s name is %d bytes, at most %d allowed", ErrInvalidName, kind, len(name), maxNameLen)
	}
	if i := strings.IndexFunc(name, badNameRune); i >= 0 {
		return fmt.Errorf("%w: %s name %q has %q at byte %d (no '.', '*', '>', '/', '\\', spaces or control characters)",
			ErrInvalidName, kind, name, []rune(name[i:])[0], i)
	}
	return nil
}

func badNameRune(r rune) bool {
	switch r {
	case '.', '*', '>', '/', '\\', unicode.ReplacementChar:
		return true
	}
	return unicode.IsSpace(r) || unicode.IsControl(r)
}
