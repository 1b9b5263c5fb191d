package bus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// ReplayToEnd as Replay's toPos asks for every logged input from fromPos
// on; the replay then fails only on a gap, not for stopping short.
const ReplayToEnd = math.MaxUint32

// Replay calls fn, in position order, with the logged inputs of stage in
// session that cover positions [fromPos, toPos) contiguously. Copies of a
// range already delivered (re-issued steps, re-sends) are skipped, and an
// input logged before the inputs preceding it waits for them. The last input
// delivered may end past toPos; inputs starting at or past toPos are not
// delivered. fn may return ErrSkipActivation to refuse one input and take a
// later copy instead; any other error stops the replay and is returned.
//
// Replay reads the log as it is when called and stops at its end. It fails
// with ErrReplayIncomplete when the log does not cover the whole range.
// It reads one message at a time with the stream's message get API, the
// only part of the JetStream API (with stream info) a worker's credentials
// allow: no consumer is created.
func (l *ActivationLog) Replay(ctx context.Context, session string, stage uint32, fromPos, toPos uint32, fn func(*tabshardv1.Activation) error) error {
	if err := ValidateSession(session); err != nil {
		return err
	}
	if fromPos > toPos {
		return fmt.Errorf("bus: replay positions [%d,%d): start after end", fromPos, toPos)
	}
	if fromPos == toPos {
		return nil
	}
	subject := l.subjects.StageInputs(session, stage)
	cur := newReplayCursor(fromPos, toPos, fn)
	first, last, err := l.bounds(ctx)
	if err != nil {
		return err
	}
	if last > 0 {
		visit := func(subject string, data []byte) (bool, error) { return l.visit(cur, subject, data, session, stage) }
		if err := l.scan(ctx, subject, first, last, visit); err != nil {
			return err
		}
	}
	if err := cur.finish(); err != nil {
		return fmt.Errorf("session %s stage %d: %w", session, stage, err)
	}
	return nil
}

// visit decodes one logged message and offers it to the cursor; what does
// not decode is logged and skipped.
func (l *ActivationLog) visit(cur *replayCursor, subject string, data []byte, session string, stage uint32) (bool, error) {
	a, err := decode(subject, data, session, stage)
	if err != nil {
		l.log.Warn("replay skipped a logged message", "subject", subject, "bytes", len(data), "err", err)
		return cur.done(), nil
	}
	return cur.offer(a)
}

// getAttempt bounds one request to the log: right after the server
// restarts, JetStream may drop the request while it recovers its streams,
// and a request that is never answered would otherwise wait for the whole
// context.
const getAttempt = 500 * time.Millisecond

// retry runs one log request, again while attempts go unanswered, until
// ctx ends.
func retry[T any](ctx context.Context, do func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, getAttempt)
		v, err := do(actx)
		cancel()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return v, err
		}
	}
}

// bounds are the stream's first and last sequences now (last 0: empty).
func (l *ActivationLog) bounds(ctx context.Context) (first, last uint64, err error) {
	info, err := retry(ctx, func(ctx context.Context) (*jetstream.StreamInfo, error) { return l.stream.Info(ctx) })
	if err != nil {
		return 0, 0, fmt.Errorf("bus: activation log %s: %w", l.StreamName(), err)
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// scan feeds visit the messages logged on subject (a filter), in stream
// order, from sequence first up to last, or until visit says it is done.
func (l *ActivationLog) scan(ctx context.Context, subject string, first, last uint64, visit func(subject string, data []byte) (bool, error)) error {
	for seq := max(first, 1); seq <= last; {
		msg, err := retry(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
			return l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bus: replay %s at sequence %d: %w", subject, seq, err)
		}
		if msg.Sequence > last {
			return nil
		}
		if done, err := visit(msg.Subject, msg.Data); err != nil || done {
			return err
		}
		seq = msg.Sequence + 1
	}
	return nil
}
