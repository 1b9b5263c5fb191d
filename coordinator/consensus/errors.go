package consensus

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is returned by leader-only operations on a follower or
	// candidate. The error is a *NotLeaderError naming the leader when known.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrLeadershipLost means the node stopped being the leader while a
	// command was in flight: it may or may not commit.
	ErrLeadershipLost = errors.New("consensus: leadership lost while the command was in flight")
	// ErrShutdown is returned by operations on a node that was shut down.
	ErrShutdown = errors.New("consensus: node is shut down")
	// ErrRejected wraps the error of a command the state machine rejected:
	// the state is unchanged on every node.
	ErrRejected = errors.New("consensus: command rejected")
	// ErrMalformedCommand is a log entry that is not a tabshardv1.Command;
	// every node rejects it the same way.
	ErrMalformedCommand = errors.New("consensus: malformed command")
	// ErrBadSnapshot is a snapshot this package did not write.
	ErrBadSnapshot = errors.New("consensus: bad snapshot")
	// ErrInvalidConfig is a Config that Validate refuses.
	ErrInvalidConfig = errors.New("consensus: invalid config")
)

// NotLeaderError is ErrNotLeader with the leader this node knows of, so that
// a caller can forward its request. LeaderID is empty when no leader is known.
type NotLeaderError struct {
	LeaderID      string
	LeaderAddress string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%s (leader is %s at %s)", ErrNotLeader, e.LeaderID, e.LeaderAddress)
}

// Unwrap makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// rejection is a state machine's error as Apply returns it: errors.Is finds
// both ErrRejected and the state machine's own error.
type rejection struct{ err error }

func (r rejection) Error() string   { return r.err.Error() }
func (r rejection) Unwrap() []error { return []error{ErrRejected, r.err} }
