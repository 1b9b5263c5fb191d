package consensus

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hcLogger routes raft's hclog output into slog one level lower than raft
// logs it: raft narrates every election and snapshot at Info.
type hcLogger struct {
	base    *slog.Logger // without the component and implied args
	l       *slog.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*hcLogger)(nil)

func newHCLogger(base *slog.Logger, name string) *hcLogger {
	return buildHCLogger(base, name, nil)
}

func buildHCLogger(base *slog.Logger, name string, implied []any) *hcLogger {
	l := base.With("component", name)
	if len(implied) > 0 {
		l = l.With(implied...)
	}
	return &hcLogger{base: base, l: l, name: name, implied: implied}
}

// slogLevel maps an hclog level to the reduced slog level.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 8
	case hclog.Debug:
		return slog.LevelDebug - 4
	case hclog.Warn:
		return slog.LevelInfo
	case hclog.Error:
		return slog.LevelWarn
	default: // Info, NoLevel
		return slog.LevelDebug
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	h.l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(level hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(level))
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	implied := append(append([]any(nil), h.implied...), args...)
	return buildHCLogger(h.base, h.name, implied)
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return buildHCLogger(h.base, name, h.implied)
}

// SetLevel is a no-op: the slog handler decides what is shown.
func (h *hcLogger) SetLevel(hclog.Level) {}

// GetLevel is the lowest hclog level the slog handler shows.
func (h *hcLogger) GetLevel() hclog.Level {
	for level := hclog.Trace; level <= hclog.Error; level++ {
		if h.enabled(level) {
			return level
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return &hcWriter{h: h, level: level}
}

// hcWriter logs each write, one line per record.
type hcWriter struct {
	h     *hcLogger
	level hclog.Level
}

func (w *hcWriter) Write(p []byte) (int, error) {
	w.h.Log(w.level, string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
