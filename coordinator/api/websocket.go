package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsMessage is one WebSocket message: a token and the text it completes
// (finish_reason null), or the end (token null, finish_reason "stop",
// "length" or an error's text).
type wsMessage struct {
	Index        int     `json:"index"`
	Token        *int    `json:"token"`
	Text         string  `json:"text"`
	FinishReason *string `json:"finish_reason"`
}

func wsMessageOf(p piece) wsMessage {
	m := wsMessage{Index: p.Index, Text: p.Text, FinishReason: finishReason(p)}
	if !p.end() {
		m.Token = &p.Token
	}
	return m
}

// handleSessionWebSocket is GET /v1/sessions/{id}/ws: a session's tokens as
// JSON messages, from index ?from=N (default 0), then a normal closure
// after the end message. A closure with StatusTryAgainLater means the
// stream broke before the end: reconnect with from = the next index.
func (s *server) handleSessionWebSocket(w http.ResponseWriter, r *http.Request) {
	from, err := fromParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := s.sessionView(r)
	if err != nil {
		s.fail(w, r, "session", err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := s.follow(ctx, v)
	if err != nil {
		s.fail(w, r, "follow", err)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.opts.WebSocketOrigins})
	if err != nil {
		s.opts.Logger.DebugContext(r.Context(), "websocket upgrade failed", "err", err)
		return
	}
	defer c.CloseNow()
	s.opts.Metrics.HTTPStreams.Inc()
	defer s.opts.Metrics.HTTPStreams.Dec()
	s.streamWebSocket(c.CloseRead(ctx), r, c, v, events, from)
}

// streamWebSocket sends the pieces from index from and closes c. ctx ends
// when the peer closes.
func (s *server) streamWebSocket(ctx context.Context, r *http.Request, c *websocket.Conn, v sessionView, events <-chan TokenEvent, from int) {
	err := deliver(ctx, v, events, follower{after: from - 1,
		emit: func(p piece) error { return wsjson.Write(ctx, c, wsMessageOf(p)) },
		ping: func() error { return ping(ctx, c, s.opts.KeepAlive) }, keepAlive: s.opts.KeepAlive})
	switch {
	case err == nil:
		_ = c.Close(websocket.StatusNormalClosure, "")
	case errors.Is(err, errInterrupted):
		_ = c.Close(websocket.StatusTryAgainLater, "stream interrupted; reconnect with from=<next index>")
	case errors.As(err, new(*stalledError)):
		_ = c.Close(websocket.StatusTryAgainLater, truncateReason(err.Error()+"; reconnect later with from=<next index>"))
	case ctx.Err() == nil:
		_ = c.Close(websocket.StatusInternalError, "stream failed")
	}
	if err != nil {
		s.logStreamEnd(ctx, r, v, err)
	}
}

// truncateReason keeps a close reason within the 123 bytes a WebSocket
// close frame allows.
func truncateReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	n := 120
	for n > 0 && !utf8.RuneStart(s[n]) { // never split a character
		n--
	}
	return s[:n] + "..."
}

// ping checks that the peer still answers, within timeout.
func ping(ctx context.Context, c *websocket.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Ping(ctx)
}

func fromParam(r *http.Request) (int, error) {
	q := r.URL.Query().Get("from")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 0 {
		return 0, badParam("from", fmt.Sprintf("from must be a token index (an integer >= 0), got %q", q))
	}
	return n, nil
}
