package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// PublishAll logs and publishes activations at once: every message goes
// out before the first acknowledgement is awaited, so that a batch of B
// outputs costs one round trip to the server, not B. It returns when all
// are stored, or the first error.
func (l *ActivationLog) PublishAll(ctx context.Context, acts []*tabshardv1.Activation) error {
	futures := make([]jetstream.PubAckFuture, 0, len(acts))
	for _, a := range acts {
		if err := checkActivation(a); err != nil {
			return err
		}
		subject := l.subjects.Activation(a.GetSessionId(), a.GetStage(), a.GetProducerWorkerId())
		data, err := encode(l.nc, subject, a)
		if err != nil {
			return err
		}
		f, err := l.js.PublishAsync(subject, data)
		if err != nil {
			return fmt.Errorf("bus: log activation [%d,%d) on %s: %w", a.GetFirstPosition(), end(a), subject, err)
		}
		futures = append(futures, f)
	}
	var errs []error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			a := acts[i]
			errs = append(errs, fmt.Errorf("bus: log activation [%d,%d) of session %s: %w", a.GetFirstPosition(), end(a), a.GetSessionId(), err))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}
