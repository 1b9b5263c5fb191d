package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAbandon: a client that leaves the stream (or the whole-text answer)
// of the session it started makes the server abandon the session; one that
// reads it to the end, or leaves a resumed stream, does not.
func TestAbandon(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.abandoned = make(chan string, 4)
	e.b.manual = true
	for i, stream := range []bool{true, false} {
		sid := fmt.Sprintf("s%d", i+1)
		ctx, cancel := context.WithCancel(context.Background())
		body := fmt.Sprintf(`{"model":"stories260K","prompt":"Once upon a time","stream":%v}`, stream)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/v1/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		go func() {
			if resp, err := e.srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitSession(t, e.b, sid)
		e.b.commit(sid, 2)
		cancel()
		select {
		case got := <-e.b.abandoned:
			if got != sid {
				t.Fatalf("stream %v: abandoned %q, want %q", stream, got, sid)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %v: the session a client left was not abandoned", stream)
		}
		e.b.commit(sid, len(e.b.script))
		e.b.waitFollows(t)
	}

	e.b.manual = false
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	io.ReadAll(resp.Body)
	sid := resp.Header.Get("X-Tabshard-Session")
	ctx, cancel := context.WithCancel(context.Background())
	e.doContext(t, ctx, "GET", "/v1/sessions/"+sid+"/events", "")
	cancel()
	e.b.waitFollows(t)
	select {
	case got := <-e.b.abandoned:
		t.Fatalf("session %q abandoned, but its client read it to the end", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func waitSession(t *testing.T, b *fakeBackend, id string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		b.mu.Lock()
		_, ok := b.sessions[id]
		b.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s never started", id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
