package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// Publish encodes m and publishes it on subject (core NATS, fire and forget).
func Publish(nc *nats.Conn, subject string, m proto.Message) error {
	data, err := encode(nc, subject, m)
	if err != nil {
		return err
	}
	if err := nc.Publish(subject, data); err != nil {
		return fmt.Errorf("bus: publish %s on %s: %w", messageName(m), subject, err)
	}
	return nil
}

// Request sends req on subject and decodes the first answer into reply.
// It gives up when ctx ends; with no subscriber it fails at once with an
// error wrapping nats.ErrNoResponders.
func Request(ctx context.Context, nc *nats.Conn, subject string, req, reply proto.Message) error {
	data, err := encode(nc, subject, req)
	if err != nil {
		return err
	}
	msg, err := nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return fmt.Errorf("bus: request %s on %s: %w", messageName(req), subject, err)
	}
	if err := proto.Unmarshal(msg.Data, reply); err != nil {
		return fmt.Errorf("%w: %s reply on %s (%d bytes): %v", ErrMalformed, messageName(reply), subject, len(msg.Data), err)
	}
	return nil
}

// Respond answers req, a request received on nc (say, in a Subscribe
// handler), with m.
func Respond(nc *nats.Conn, req *nats.Msg, m proto.Message) error {
	if req.Reply == "" {
		return fmt.Errorf("bus: respond %s: message on %s has no reply subject", messageName(m), req.Subject)
	}
	data, err := encode(nc, req.Reply, m)
	if err != nil {
		return err
	}
	if err := nc.Publish(req.Reply, data); err != nil {
		return fmt.Errorf("bus: respond %s to %s: %w", messageName(m), req.Subject, err)
	}
	return nil
}

// SubOption configures Subscribe.
type SubOption func(*subConfig)

type subConfig struct {
	log     *slog.Logger
	queue   string
	dropped *atomic.Uint64
}

// WithLogger logs dropped (malformed) messages to log; the default discards.
func WithLogger(log *slog.Logger) SubOption {
	return func(c *subConfig) { c.log = log }
}

// WithQueue subscribes as a member of queue group q: each message goes to
// one member of the group.
func WithQueue(q string) SubOption {
	return func(c *subConfig) { c.queue = q }
}

// WithDropCounter adds one to n for every malformed message dropped.
func WithDropCounter(n *atomic.Uint64) SubOption {
	return func(c *subConfig) { c.dropped = n }
}

// Subscribe calls handle with each message on subject decoded into a fresh
// newT(). A payload that does not decode is counted, logged and dropped;
// handle never sees it. handle runs on the subscription's own goroutine, one
// message at a time, in arrival order.
func Subscribe[T proto.Message](nc *nats.Conn, subject string, newT func() T, handle func(T, *nats.Msg), opts ...SubOption) (*nats.Subscription, error) {
	cfg := subConfig{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	cb := func(msg *nats.Msg) {
		m := newT()
		if err := proto.Unmarshal(msg.Data, m); err != nil {
			cfg.drop(msg, messageName(m), err)
			return
		}
		handle(m, msg)
	}
	sub, err := nc.QueueSubscribe(subject, cfg.queue, cb)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", subject, err)
	}
	return sub, nil
}

func (c *subConfig) drop(msg *nats.Msg, want string, err error) {
	if c.dropped != nil {
		c.dropped.Add(1)
	}
	c.log.Warn("dropped malformed message", "subject", msg.Subject, "want", want, "bytes", len(msg.Data), "err", err)
}

// encode marshals m and checks it fits the connection's max payload.
func encode(nc *nats.Conn, subject string, m proto.Message) ([]byte, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %s for %s: %w", messageName(m), subject, err)
	}
	if err := checkSize(nc, subject, messageName(m), len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

// checkSize fails with the size and the limit when n bytes exceed the
// connection's max payload (unknown, so unchecked, before a first connect).
func checkSize(nc *nats.Conn, subject, what string, n int) error {
	limit := nc.MaxPayload()
	if limit <= 0 || int64(n) <= limit {
		return nil
	}
	return fmt.Errorf("%w: %s on %s is %d bytes, the limit is %d bytes", ErrPayloadTooLarge, what, subject, n, limit)
}

func messageName(m proto.Message) string {
	return string(m.ProtoReflect().Descriptor().Name())
}
