package api_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

type wsMessage struct {
	Index        int     `json:"index"`
	Token        *int    `json:"token"`
	Text         string  `json:"text"`
	FinishReason *string `json:"finish_reason"`
}

// dialSession opens a session's WebSocket, with a query.
func dialSession(t *testing.T, ctx context.Context, e *env, id, query string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/sessions/" + id + "/ws" + query
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: e.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// readMessages reads n messages, or all when n < 0, and the close status.
func readMessages(t *testing.T, ctx context.Context, c *websocket.Conn, n int) ([]wsMessage, websocket.StatusCode) {
	t.Helper()
	var msgs []wsMessage
	for n < 0 || len(msgs) < n {
		var m wsMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			if status := websocket.CloseStatus(err); status != -1 {
				return msgs, status
			}
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs, -1
}

func wsText(msgs []wsMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Text)
	}
	return b.String()
}

func TestWebSocket(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`).Body.Close()
	e.b.waitFollows(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c := dialSession(t, ctx, e, "s1", "")
	e.b.commit("s1", 4)
	first, _ := readMessages(t, ctx, c, 4)
	c.Close(websocket.StatusNormalClosure, "")
	e.b.waitFollows(t)
	e.b.commit("s1", len(e.b.script))

	c = dialSession(t, ctx, e, "s1", "?from=4")
	rest, status := readMessages(t, ctx, c, -1)
	if status != websocket.StatusNormalClosure {
		t.Errorf("closed with %v, want a normal closure", status)
	}
	msgs := append(first, rest...)
	for i, m := range msgs {
		end := i == len(msgs)-1
		if m.Index != i || (m.Token == nil) != end || (m.FinishReason != nil) != end {
			t.Fatalf("message %d: %+v", i, m)
		}
		if !end && *m.Token != e.b.script[i] {
			t.Fatalf("message %d: token %d, want %d", i, *m.Token, e.b.script[i])
		}
	}
	if *msgs[len(msgs)-1].FinishReason != "stop" || wsText(msgs) != want {
		t.Errorf("text %q finish %q, want %q", wsText(msgs), *msgs[len(msgs)-1].FinishReason, want)
	}
}

func TestWebSocketInterrupted(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"x","stream":true}`).Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dialSession(t, ctx, e, "chatcmpl-s1", "")
	waitFor(t, func() bool { return e.b.follows.Load() == 1 })
	e.b.breakFollowers("s1")
	if _, status := readMessages(t, ctx, c, -1); status != websocket.StatusTryAgainLater {
		t.Errorf("closed with %v, want StatusTryAgainLater", status)
	}
}

func TestWebSocketErrors(t *testing.T) {
	e := newEnv(t)
	var got openAIError
	readJSON(t, e.do(t, "GET", "/v1/sessions/nope/ws", ""), 404, &got)
	if got.code() != "session_not_found" {
		t.Errorf("unknown session: %+v", got.Error)
	}
	e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"x"}`).Body.Close()
	readJSON(t, e.do(t, "GET", "/v1/sessions/s1/ws?from=-3", ""), 400, &got)
	if got.param() != "from" {
		t.Errorf("bad from: %+v", got.Error)
	}
	resp := e.do(t, "GET", "/v1/sessions/s1/ws", "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode/100 != 4 {
		t.Errorf("plain GET of a WebSocket: %d %s", resp.StatusCode, body)
	}
	e.b.waitFollows(t)
}
