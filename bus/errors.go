package bus

import "errors"

// Errors a caller can act on; the returned errors wrap them with details.
var (
	// ErrInvalidName means a cluster or session name cannot be a NATS
	// subject token (or, for clusters, part of a JetStream stream name).
	ErrInvalidName = errors.New("bus: invalid name")
	// ErrPayloadTooLarge means an encoded message exceeds the connection's
	// max payload; split it or raise the server's MaxPayload.
	ErrPayloadTooLarge = errors.New("bus: message larger than the connection's max payload")
	// ErrMalformed means a payload did not decode as the expected protobuf
	// message.
	ErrMalformed = errors.New("bus: malformed message")
	// ErrInvalidActivation means an activation cannot be logged as given.
	ErrInvalidActivation = errors.New("bus: invalid activation")
	// ErrReplayIncomplete means the log does not hold a contiguous run of
	// inputs covering the requested positions.
	ErrReplayIncomplete = errors.New("bus: activation log does not cover the requested positions")
	// ErrSkipActivation may be returned by a Replay callback to refuse one
	// logged activation (say, of a fenced epoch) without ending the replay:
	// its positions stay uncovered, so a later copy in the log can fill them.
	ErrSkipActivation = errors.New("bus: activation skipped by the replay callback")
	// ErrInvalidCredentials means a key, a JWT or a secret cannot be used.
	ErrInvalidCredentials = errors.New("bus: invalid credentials")
	// ErrForged means a message names another sender than the subject it
	// came on, which the server's permissions guarantee.
	ErrForged = errors.New("bus: message names another sender than its subject")
)
