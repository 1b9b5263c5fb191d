package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Defaults of an AsyncLog.
const (
	// DefaultMaxOutstanding bounds the activations sent whose log
	// acknowledgement has not come yet.
	DefaultMaxOutstanding = 256
	// DefaultAckWait is how long one publish waits for its acknowledgement
	// before it is sent again.
	DefaultAckWait = 5 * time.Second
	// DefaultRetryFor is how long a publish is retried before it is given
	// up (counted as lost): longer than a JetStream leader election (4 to
	// 9 s), so that a log that loses its leader still gets every input.
	DefaultRetryFor = 30 * time.Second
)

// AsyncOptions configures an AsyncLog; zero values are the defaults.
type AsyncOptions struct {
	MaxOutstanding int
	AckWait        time.Duration
	RetryFor       time.Duration
	// Observer hears each acknowledgement, retry and loss; nil: none.
	Observer LogObserver
	Logger   *slog.Logger
}

// LogObserver hears what happens to asynchronous publishes (metrics).
type LogObserver interface {
	// Acked: the log stored an activation after waited since its send.
	Acked(waited time.Duration)
	// Retried: a publish failed with err and is sent again.
	Retried(err error)
	// Lost: a publish still failed after RetryFor; the log lacks it.
	Lost(err error)
}

// AsyncLog sends activations to their stage and the activation log
// without waiting for the log's acknowledgement: the next stage receives
// the message as soon as the server routes it (core subscribers of the
// subject), and the acknowledgement, awaited behind, only says the log
// holds it for a later replay. A publish that fails or is not acknowledged
// within AckWait is sent again (the receiver's idempotence drops the
// duplicate; the log's replay skips it) until RetryFor, then counted as
// lost. At most MaxOutstanding publishes await their acknowledgement: Send
// waits for room. It is safe for concurrent use.
type AsyncLog struct {
	l    *ActivationLog
	opts AsyncOptions
	room chan struct{} // one token per outstanding publish
	wg   sync.WaitGroup
}

// Async returns an AsyncLog sending through l.
func (l *ActivationLog) Async(opts AsyncOptions) *AsyncLog {
	if opts.MaxOutstanding <= 0 {
		opts.MaxOutstanding = DefaultMaxOutstanding
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = DefaultRetryFor
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.Logger == nil {
		opts.Logger = l.log
	}
	return &AsyncLog{l: l, opts: opts, room: make(chan struct{}, opts.MaxOutstanding)}
}

type noObserver struct{}

func (noObserver) Acked(time.Duration) {}
func (noObserver) Retried(error)       {}
func (noObserver) Lost(error)          {}

// Send publishes a (see ActivationLog.Publish) and returns once it is sent,
// or with ctx's error while MaxOutstanding publishes await their
// acknowledgement.
func (al *AsyncLog) Send(ctx context.Context, a *tabshardv1.Activation) error {
	if err := al.send(ctx, a); err != nil {
		return err
	}
	yieldToFlusher()
	return nil
}

// yieldToFlusher lets nats.go's flusher write what was just published
// before the caller goes on. Go's wasm runtime (a tab worker) runs one
// goroutine at a time and never preempts: a message under the
// connection's buffer size (32 KiB) would otherwise sit in the buffer
// for as long as the sender keeps running after its publish (recording
// its next command buffer, sending a token, its bookkeeping), and the
// next stage waits that much longer. Native workers run the flusher
// beside the sender: nothing to do there.
func yieldToFlusher() {
	if runtime.GOARCH == "wasm" {
		runtime.Gosched()
	}
}

func (al *AsyncLog) send(ctx context.Context, a *tabshardv1.Activation) error {
	if err := checkActivation(a); err != nil {
		return err
	}
	subject := al.l.subjects.Activation(a.GetSessionId(), a.GetStage(), a.GetProducerWorkerId())
	data, err := encode(al.l.nc, subject, a)
	if err != nil {
		return err
	}
	select {
	case al.room <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("bus: log activation [%d,%d) on %s: %d outstanding: %w", a.GetFirstPosition(), end(a), subject, cap(al.room), ctx.Err())
	}
	sent := time.Now()
	f, err := al.l.js.PublishAsync(subject, data)
	al.wg.Add(1)
	go func() {
		defer al.wg.Done()
		defer func() { <-al.room }()
		al.await(subject, data, f, err, sent)
	}()
	return nil
}

// SendAll sends each of acts (see Send); the connection writes them
// together.
func (al *AsyncLog) SendAll(ctx context.Context, acts []*tabshardv1.Activation) error {
	defer yieldToFlusher() // what was published before an error too
	for _, a := range acts {
		if err := al.send(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Wait returns once every publish sent so far is acknowledged or lost;
// call it after the last Send (tests, a graceful stop).
func (al *AsyncLog) Wait() { al.wg.Wait() }

// await waits for one publish's acknowledgement, and sends it again while
// it fails, until RetryFor after it was first sent.
func (al *AsyncLog) await(subject string, data []byte, f jetstream.PubAckFuture, err error, sent time.Time) {
	deadline := sent.Add(al.opts.RetryFor)
	for {
		if err == nil {
			err = al.ack(f)
		}
		if err == nil {
			al.opts.Observer.Acked(time.Since(sent))
			return
		}
		if errors.Is(err, nats.ErrConnectionClosed) { // the sender is gone (a crash): so is its step
			al.opts.Observer.Lost(err)
			return
		}
		if time.Now().After(deadline) {
			al.opts.Observer.Lost(err)
			al.opts.Logger.Error("activation log: a publish is lost after retrying; a replay that needs it will fail", "subject", subject, "err", err)
			return
		}
		al.opts.Observer.Retried(err)
		al.opts.Logger.Warn("activation log: publish failed; sending it again", "subject", subject, "err", err)
		time.Sleep(retryPause)
		f, err = al.l.js.PublishAsync(subject, data)
	}
}

// retryPause is the pause before a failed publish is sent again.
const retryPause = 100 * time.Millisecond

// errAckWait is a publish not acknowledged within AckWait.
var errAckWait = errors.New("no acknowledgement in time")

func (al *AsyncLog) ack(f jetstream.PubAckFuture) error {
	t := time.NewTimer(al.opts.AckWait)
	defer t.Stop()
	// A connection that closes leaves its futures unanswered: look.
	poll := time.NewTicker(closedPoll)
	defer poll.Stop()
	for {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		case <-t.C:
			return fmt.Errorf("%w (%v)", errAckWait, al.opts.AckWait)
		case <-poll.C:
			if al.l.nc.IsClosed() {
				return nats.ErrConnectionClosed
			}
		}
	}
}

// closedPoll is how often a publish awaiting its acknowledgement checks
// whether its connection closed.
const closedPoll = 100 * time.Millisecond

// Publish is Send: an AsyncLog is what a coordinator issues steps with.
func (al *AsyncLog) Publish(ctx context.Context, a *tabshardv1.Activation) error {
	return al.Send(ctx, a)
}

// DeleteSession purges a session's log (see ActivationLog.DeleteSession).
func (al *AsyncLog) DeleteSession(ctx context.Context, session string) error {
	return al.l.DeleteSession(ctx, session)
}
