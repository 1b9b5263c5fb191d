package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Limits of the activation log. Sessions are purged when they end; the
// limits only stop a log whose sessions never end from growing for ever.
const (
	// DefaultLogMaxAge drops logged activations older than a day.
	DefaultLogMaxAge = 24 * time.Hour
	// DefaultLogMaxBytes bounds a file-backed log.
	DefaultLogMaxBytes int64 = 4 << 30
	// DefaultMemoryLogMaxBytes bounds a memory log: a standalone server
	// reserves the whole limit from its JetStream memory budget up front.
	DefaultMemoryLogMaxBytes int64 = 1 << 30
)

// streamPrefix starts the name of every cluster's activation log stream.
const streamPrefix = "TABSHARD_ACT_"

// StreamName is the name of the JetStream stream holding cluster's
// activation log.
func StreamName(cluster string) string { return streamPrefix + cluster }

// LogOptions configures the activation log's stream. Every coordinator of a
// cluster must open the log with the same options; the last one to open it
// sets them.
type LogOptions struct {
	// Memory keeps the log in memory instead of files (lost when the server
	// stops). A stream cannot change its storage once created.
	Memory bool
	// MaxAge drops activations older than this; 0 means DefaultLogMaxAge.
	MaxAge time.Duration
	// MaxBytes drops the oldest activations past this size; 0 means
	// DefaultLogMaxBytes (DefaultMemoryLogMaxBytes with Memory).
	MaxBytes int64
	// Replicas is the stream's replication factor in a NATS cluster; 0
	// means 1.
	Replicas int
	// Logger receives activations skipped during replay; nil discards.
	Logger *slog.Logger
}

func (o LogOptions) streamConfig(s Subjects) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        StreamName(s.Cluster),
		Description: "tabshard activation log of cluster " + s.Cluster,
		Subjects:    []string{s.Activations()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		Replicas:    max(o.Replicas, 1),
	}
	if o.Memory {
		cfg.Storage = jetstream.MemoryStorage
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultLogMaxAge
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultLogMaxBytes
		if o.Memory {
			cfg.MaxBytes = DefaultMemoryLogMaxBytes
		}
	}
	return cfg
}

// ActivationLog is a cluster's activation log: a JetStream stream capturing
// every activation subject, so each input a stage received can be read
// again by a standby that takes the stage over. It is safe for concurrent
// use.
type ActivationLog struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	subjects Subjects
	log      *slog.Logger
}

// OpenLog creates cluster's activation log stream, or updates its limits to
// opts if it exists (its storage stays what it was created with); several
// coordinators may call it at once. Workers should use AttachLog.
func OpenLog(ctx context.Context, nc *nats.Conn, cluster string, opts LogOptions) (*ActivationLog, error) {
	subjects, err := NewSubjects(cluster)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	l := newActivationLog(nc, js, nil, subjects, opts.Logger)
	if l.stream, err = createOrUpdate(ctx, js, opts.streamConfig(subjects), l.log); err != nil {
		return nil, err
	}
	return l, nil
}

// AttachLog opens cluster's existing activation log without changing its
// configuration: what workers use, leaving the stream to the coordinators.
func AttachLog(ctx context.Context, nc *nats.Conn, cluster string, log *slog.Logger) (*ActivationLog, error) {
	subjects, err := NewSubjects(cluster)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	stream, err := js.Stream(ctx, StreamName(cluster))
	if err != nil {
		return nil, fmt.Errorf("bus: attach activation log %s: %w", StreamName(cluster), err)
	}
	return newActivationLog(nc, js, stream, subjects, log), nil
}

func newActivationLog(nc *nats.Conn, js jetstream.JetStream, stream jetstream.Stream, subjects Subjects, log *slog.Logger) *ActivationLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ActivationLog{nc: nc, js: js, stream: stream, subjects: subjects, log: log}
}

// createOrUpdate creates the stream, or brings an existing one to cfg's
// limits. The storage of an existing stream is kept: it cannot change, and a
// client that asked for another one (a worker with default options) must not
// fail for it. A creator that loses a race to another one updates instead.
func createOrUpdate(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	var err error
	// Coordinators starting together race to create the stream: the loser
	// sees "already in use", or, with file storage, a store the winner is
	// still creating; either way the stream is there a moment later.
	for attempt := range createAttempts {
		var stream jetstream.Stream
		if stream, err = js.Stream(ctx, cfg.Name); err == nil {
			return update(ctx, js, stream, cfg, log)
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("bus: open activation log %s: %w", cfg.Name, err)
		}
		if stream, err = js.CreateStream(ctx, cfg); err == nil {
			return stream, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			log.Debug("activation log: create failed; looking again", "stream", cfg.Name, "attempt", attempt+1, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: create activation log %s (%s storage): %w", cfg.Name, cfg.Storage, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("bus: create activation log %s (%s storage): %w", cfg.Name, cfg.Storage, err)
}

// createAttempts bounds createOrUpdate's look-then-create rounds.
const createAttempts = 5

// update applies cfg's limits to an existing stream, if they differ.
func update(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, cfg jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	have := stream.CachedInfo().Config
	if have.Storage != cfg.Storage {
		log.Warn("activation log keeps the storage it was created with", "stream", cfg.Name, "storage", have.Storage, "asked", cfg.Storage)
		cfg.Storage = have.Storage
	}
	if sameLimits(have, cfg) {
		return stream, nil
	}
	stream, err := js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bus: update activation log %s: %w", cfg.Name, err)
	}
	return stream, nil
}

// sameLimits compares the fields streamConfig sets.
func sameLimits(a, b jetstream.StreamConfig) bool {
	return a.Description == b.Description && slices.Equal(a.Subjects, b.Subjects) &&
		a.Retention == b.Retention && a.Discard == b.Discard && a.MaxAge == b.MaxAge &&
		a.MaxBytes == b.MaxBytes && a.Replicas == b.Replicas
}

// StreamName is the name of the log's JetStream stream.
func (l *ActivationLog) StreamName() string { return StreamName(l.subjects.Cluster) }

// Subjects are the subjects of the log's cluster.
func (l *ActivationLog) Subjects() Subjects { return l.subjects }

// Publish sends a to the stage it names, on the subject of its producer
// (a.ProducerWorkerId: the publishing worker, or CoordinatorProducer), and
// waits until the log has stored it: the one message is both the next
// stage's input (core subscribers of the subject receive it) and its log
// entry. A worker's credentials allow only its own producer subject.
func (l *ActivationLog) Publish(ctx context.Context, a *tabshardv1.Activation) error {
	if err := checkActivation(a); err != nil {
		return err
	}
	subject := l.subjects.Activation(a.GetSessionId(), a.GetStage(), a.GetProducerWorkerId())
	data, err := encode(l.nc, subject, a)
	if err != nil {
		return err
	}
	if _, err := l.js.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("bus: log activation [%d,%d) on %s: %w", a.GetFirstPosition(), end(a), subject, err)
	}
	return nil
}

// checkActivation rejects what the log cannot address or replay: a bad
// session or producer name, an empty or overflowing position range.
func checkActivation(a *tabshardv1.Activation) error {
	if err := ValidateSession(a.GetSessionId()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidActivation, err)
	}
	if err := validateName("producer", a.GetProducerWorkerId()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidActivation, err)
	}
	if a.GetTokenCount() == 0 {
		return fmt.Errorf("%w: session %s stage %d at position %d has token_count 0",
			ErrInvalidActivation, a.GetSessionId(), a.GetStage(), a.GetFirstPosition())
	}
	if end(a) > math.MaxUint32 {
		return fmt.Errorf("%w: positions [%d,%d) overflow uint32", ErrInvalidActivation, a.GetFirstPosition(), end(a))
	}
	return nil
}

// end is one past the last position a covers.
func end(a *tabshardv1.Activation) uint64 {
	return uint64(a.GetFirstPosition()) + uint64(a.GetTokenCount())
}

// DeleteSession purges every logged activation of session, all stages; call
// it when the session ends.
func (l *ActivationLog) DeleteSession(ctx context.Context, session string) error {
	if err := ValidateSession(session); err != nil {
		return err
	}
	subject := l.subjects.SessionActivations(session)
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("bus: purge %s from %s: %w", subject, l.StreamName(), err)
	}
	return nil
}

// decode turns a logged message into the activation it holds, or reports
// why it must be skipped: it does not decode, it names another session or
// stage, or another producer than the subject it was published on.
func decode(subject string, data []byte, session string, stage uint32) (*tabshardv1.Activation, error) {
	a := new(tabshardv1.Activation)
	if err := proto.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := CheckSender(subject, a.GetProducerWorkerId()); err != nil {
		return nil, err
	}
	if a.GetSessionId() != session || a.GetStage() != stage {
		return nil, fmt.Errorf("%w: activation of session %q stage %d logged under session %q stage %d",
			ErrMalformed, a.GetSessionId(), a.GetStage(), session, stage)
	}
	return a, nil
}
