//go:build !js

package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// The embedded server's chatter goes below the daemon's own logs: its
// notices are debug, its debug and trace lines lower still, and its warnings
// (such as "WebSocket without TLS", expected on loopback) are info.
const (
	levelServerNotice = slog.LevelDebug
	levelServerDebug  = slog.LevelDebug - 4
	levelServerWarn   = slog.LevelInfo
)

// slogAdapter is nats-server's Logger writing to slog. It also keeps the
// last error line, so a server that fails to start (a port in use) can say
// why.
type slogAdapter struct {
	log       *slog.Logger
	lastError *atomic.Pointer[string]
}

func newSlogAdapter(log *slog.Logger) slogAdapter {
	return slogAdapter{log: log, lastError: new(atomic.Pointer[string])}
}

// LastError is the last error or fatal line the server logged, or "".
func (a slogAdapter) LastError() string {
	if p := a.lastError.Load(); p != nil {
		return *p
	}
	return ""
}

// transientErrors start error lines that do not mean the server failed:
// a route to a coordinator not up yet is retried for ever.
var transientErrors = []string{"Error trying to connect to route"}

func (a slogAdapter) errorf(format string, v []any) {
	line := fmt.Sprintf(format, v...)
	for _, prefix := range transientErrors {
		if strings.HasPrefix(line, prefix) {
			a.logf(levelServerWarn, "%s", []any{line})
			return
		}
	}
	a.lastError.Store(&line)
	a.log.Error(line, "component", "nats-server")
}

func (a slogAdapter) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if a.log.Enabled(ctx, level) {
		a.log.Log(ctx, level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

func (a slogAdapter) Noticef(format string, v ...any) { a.logf(levelServerNotice, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.logf(levelServerWarn, format, v) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.errorf(format, v) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.errorf(format, v) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.logf(levelServerDebug, format, v) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.logf(levelServerDebug, format, v) }
