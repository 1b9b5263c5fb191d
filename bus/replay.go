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

// replayIdle is how long Replay waits for a message it expects before
// checking whether the log changed under it (a concurrent purge).
const replayIdle = 2 * time.Second

// replayConsumerTTL lets the server drop a replay consumer whose explicit
// deletion failed.
const replayConsumerTTL = 30 * time.Second

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
	subject := l.subjects.Activation(session, stage)
	cur := newReplayCursor(fromPos, toPos, fn)
	last, err := l.lastSequence(ctx, subject)
	if err != nil {
		return err
	}
	if last > 0 {
		visit := func(data []byte) (bool, error) { return l.visit(cur, data, session, stage) }
		if err := l.scan(ctx, subject, last, visit); err != nil {
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
func (l *ActivationLog) visit(cur *replayCursor, data []byte, session string, stage uint32) (bool, error) {
	a, err := decode(data, session, stage)
	if err != nil {
		l.log.Warn("replay skipped a logged message", "session", session, "stage", stage, "bytes", len(data), "err", err)
		return cur.done(), nil
	}
	return cur.offer(a)
}

// lastMsgAttempt bounds one look-up of a subject's last message: right
// after the server restarts, JetStream may drop the request while it
// recovers its streams, and a request that is never answered would
// otherwise wait for the whole context.
const lastMsgAttempt = 500 * time.Millisecond

// lastMsg asks for subject's last logged message, retrying unanswered
// requests until ctx ends.
func (l *ActivationLog) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, lastMsgAttempt)
		msg, err := l.stream.GetLastMsgForSubject(actx, subject)
		cancel()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return msg, err
		}
	}
}

// lastSequence is the stream sequence of the last message on subject, 0 if
// it has none.
func (l *ActivationLog) lastSequence(ctx context.Context, subject string) (uint64, error) {
	msg, err := l.lastMsg(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("bus: last logged message on %s: %w", subject, err)
	}
	return msg.Sequence, nil
}

// scan feeds visit the payloads logged on subject, in stream order, up to
// sequence last or until visit says it is done. It reads through an ordered
// consumer that it deletes afterwards.
func (l *ActivationLog) scan(ctx context.Context, subject string, last uint64, visit func([]byte) (bool, error)) error {
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: replayConsumerTTL,
	})
	if err != nil {
		return fmt.Errorf("bus: replay consumer on %s: %w", subject, err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(l.pullBytes()))
	if err != nil {
		return fmt.Errorf("bus: replay %s: %w", subject, err)
	}
	defer l.dropConsumer(ctx, cons)
	defer it.Stop()
	return l.read(ctx, it, subject, last, visit)
}

// read is scan's loop.
func (l *ActivationLog) read(ctx context.Context, it jetstream.MessagesContext, subject string, last uint64, visit func([]byte) (bool, error)) error {
	var seen uint64
	for {
		msg, err := nextMessage(ctx, it)
		if errors.Is(err, errIdle) {
			if last, err = l.lastSequence(ctx, subject); err != nil || last <= seen {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("bus: replay %s: %w", subject, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("bus: replay %s: %w", subject, err)
		}
		seen = meta.Sequence.Stream
		done, err := visit(msg.Data())
		if err != nil || done || seen >= last || meta.NumPending == 0 {
			return err
		}
	}
}

var errIdle = errors.New("no message within the idle wait")

// nextMessage waits for the next message, up to replayIdle.
func nextMessage(ctx context.Context, it jetstream.MessagesContext) (jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, replayIdle)
	defer cancel()
	msg, err := it.Next(jetstream.NextContext(wctx))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, errIdle
	}
	return msg, err
}

// pullBytes bounds what a replay buffers: room for a few of the largest
// messages (a pull batch must fit at least one).
func (l *ActivationLog) pullBytes() int {
	return int(max(4*l.nc.MaxPayload(), 4<<20))
}

// dropConsumer deletes a replay's consumer now rather than at its TTL.
func (l *ActivationLog) dropConsumer(ctx context.Context, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := l.js.DeleteConsumer(dctx, l.StreamName(), info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		l.log.Debug("replay consumer left to expire", "consumer", info.Name, "err", err)
	}
}
