package bus

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultReconnectWait is how long a client waits between reconnect
// attempts. Short: a coordinator or worker that loses the server should be
// back within a heartbeat interval.
const DefaultReconnectWait = 250 * time.Millisecond

// DefaultClientName names connections opened without a nats.Name option.
const DefaultClientName = "tabshard"

// ClientOptions are the options Connect applies before the caller's own:
// a name and reconnecting forever with a short, jittered wait.
func ClientOptions() []nats.Option {
	return []nats.Option{
		nats.Name(DefaultClientName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(DefaultReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
	}
}

// Connect opens a client connection to url with ClientOptions, then opts,
// which override them. A browser tab passes nats.SetCustomDialer with a
// dialer over the page's WebSocket here.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, append(ClientOptions(), opts...)...)
}

// LogEvents is a nats.Option that reports disconnects, reconnects and
// asynchronous errors (slow consumers, permission violations) to log. It
// keeps handlers set by earlier options, calling them after logging.
func LogEvents(log *slog.Logger) nats.Option {
	return func(o *nats.Options) error {
		disconnected, reconnected, asyncErr := o.DisconnectedErrCB, o.ReconnectedCB, o.AsyncErrorCB
		o.DisconnectedErrCB = func(nc *nats.Conn, err error) {
			if err == nil || nc.IsClosed() { // our own Close: nothing went wrong
				log.Debug("nats connection closed", "name", nc.Opts.Name)
			} else {
				log.Warn("nats disconnected", "name", nc.Opts.Name, "err", err)
			}
			if disconnected != nil {
				disconnected(nc, err)
			}
		}
		o.ReconnectedCB = func(nc *nats.Conn) {
			log.Info("nats reconnected", "name", nc.Opts.Name, "url", nc.ConnectedUrlRedacted())
			if reconnected != nil {
				reconnected(nc)
			}
		}
		o.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Error("nats async error", "name", nc.Opts.Name, "subject", subjectOf(sub), "err", err)
			if asyncErr != nil {
				asyncErr(nc, sub, err)
			}
		}
		return nil
	}
}

func subjectOf(sub *nats.Subscription) string {
	if sub == nil {
		return ""
	}
	return sub.Subject
}
