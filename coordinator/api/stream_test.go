package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tabshard/tabshard/coordinator/api"
)

// checkEvents checks that the chunks of evs have ids first, first+1, ...,
// end with [DONE] and finish_reason "stop" on the last chunk, and returns
// their text.
func checkEvents(t *testing.T, evs []sseEvent, first int, object string) string {
	t.Helper()
	cs, ids, done := chunks(t, evs)
	if !done {
		t.Fatalf("stream without [DONE]: %v", evs)
	}
	for i, id := range ids {
		if id != strconv.Itoa(first+i) {
			t.Fatalf("event ids %v, want %d, %d, ...", ids, first, first+1)
		}
	}
	for i, c := range cs {
		if c.Object != object || c.Model != modelName || c.Created == 0 || len(c.Choices) != 1 {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		if end := i == len(cs)-1; (c.finish() != "") != end {
			t.Fatalf("chunk %d: finish_reason %q", i, c.finish())
		}
	}
	if f := cs[len(cs)-1].finish(); f != "stop" {
		t.Fatalf("finish_reason %q", f)
	}
	return joinText(cs)
}

func TestCompletionStream(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, storyPrompt, storyRest)
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	if sid := resp.Header.Get("X-Tabshard-Session"); sid != "s1" {
		t.Errorf("X-Tabshard-Session = %q", sid)
	}
	evs := newSSEReader(resp.Body).all(t)
	if got := checkEvents(t, evs, 0, "text_completion"); got != want {
		t.Errorf("streamed text %q, want %q", got, want)
	}
	if n := len(evs); n != len(e.b.script)+2 {
		t.Errorf("%d events for %d tokens, want one per token, the end and [DONE]", n, len(e.b.script))
	}
}

func TestChatStream(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, "user: Hi\nassistant:", " Once upon a time, there was a dog.")
	resp := e.post(t, "/v1/chat/completions", `{"model":"stories260K","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	evs := newSSEReader(resp.Body).all(t)
	if got := checkEvents(t, evs, 0, "chat.completion.chunk"); got != want {
		t.Errorf("streamed content %q, want %q", got, want)
	}
	cs, _, _ := chunks(t, evs)
	for i, c := range cs {
		d := c.Choices[0].Delta
		if d == nil || (d.Role == "assistant") != (i == 0) || c.ID != "chatcmpl-s1" {
			t.Fatalf("chunk %d: id %q delta %+v; want the role in the first delta only", i, c.ID, d)
		}
	}
}

// TestStreamResume breaks a stream mid-generation (the client goes away),
// then resumes it with Last-Event-ID: the two parts hold every event once.
func TestStreamResume(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	ctx, cancel := context.WithCancel(context.Background())
	resp := e.doContext(t, ctx, "POST", "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	sid := resp.Header.Get("X-Tabshard-Session")
	e.b.commit(sid, 3)
	r := newSSEReader(resp.Body)
	var first []sseEvent
	for range 3 {
		ev, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, ev)
	}
	cancel()
	e.b.waitFollows(t)
	e.b.commit(sid, len(e.b.script))

	for _, c := range []struct{ path, header, object string }{
		{"/v1/sessions/" + sid + "/events", "Last-Event-ID: 2", "text_completion"},
		{"/v1/sessions/cmpl-" + sid + "/events", "Last-Event-ID: 2", "text_completion"},
		{"/v1/sessions/chatcmpl-" + sid + "/events?last_event_id=2", "", "chat.completion.chunk"},
	} {
		var headers []string
		if c.header != "" {
			headers = append(headers, c.header)
		}
		rest := newSSEReader(e.do(t, "GET", c.path, "", headers...).Body).all(t)
		got := joinText(mustChunks(t, first)) + checkEvents(t, rest, 3, c.object)
		if got != want {
			t.Errorf("%s: text %q, want %q", c.path, got, want)
		}
	}
	all := newSSEReader(e.do(t, "GET", "/v1/sessions/"+sid+"/events", "").Body).all(t)
	if got := checkEvents(t, all, 0, "text_completion"); got != want {
		t.Errorf("whole stream again: %q, want %q", got, want)
	}
}

func mustChunks(t *testing.T, evs []sseEvent) []streamChunk {
	cs, ids, _ := chunks(t, evs)
	if !slices.Equal(ids, []string{"0", "1", "2"}) {
		t.Fatalf("first events %v", ids)
	}
	return cs
}

func TestSessionEventsErrors(t *testing.T) {
	e := newEnv(t)
	var got openAIError
	readJSON(t, e.do(t, "GET", "/v1/sessions/nope/events", ""), 404, &got)
	if got.code() != "session_not_found" {
		t.Errorf("unknown session: %+v", got.Error)
	}
	readJSON(t, e.do(t, "GET", "/v1/sessions/nope/events", "", "Last-Event-ID: x"), 400, &got)
	if got.param() != "Last-Event-ID" {
		t.Errorf("bad Last-Event-ID: %+v", got.Error)
	}
}

// TestUTF8AcrossTokens streams characters that the tokenizer spells as
// byte tokens: no chunk holds a broken character, and a resume that lands
// inside a character still completes it.
func TestUTF8AcrossTokens(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, "Lily said", " 日本 🙂 ok")
	tok := storiesTokenizer(t)
	if n := len(tok.Encode("日")); n < 3 {
		t.Fatalf("日 is %d tokens; the test wants it spelled in bytes", n)
	}
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Lily said","stream":true}`)
	evs := newSSEReader(resp.Body).all(t)
	if got := checkEvents(t, evs, 0, "text_completion"); got != want {
		t.Fatalf("streamed %q, want %q", got, want)
	}
	cs, _, _ := chunks(t, evs)
	held := -1
	for i, c := range cs {
		if !utf8.ValidString(c.text()) || strings.ContainsRune(c.text(), utf8.RuneError) {
			t.Errorf("chunk %d text %q is not whole characters", i, c.text())
		}
		if c.text() == "" && held < 0 && i > 0 {
			held = i
		}
	}
	if held < 0 {
		t.Fatal("no chunk held bytes back")
	}
	rest := newSSEReader(e.do(t, "GET", "/v1/sessions/s1/events", "", fmt.Sprintf("Last-Event-ID: %d", held)).Body).all(t)
	got := joinText(cs[:held+1]) + checkEvents(t, rest, held+1, "text_completion")
	if got != want {
		t.Errorf("resumed inside a character: %q, want %q", got, want)
	}
}

// TestInterruptedStream: a Follow stream that breaks before the session's
// end ends the SSE stream without [DONE], so the client resumes.
func TestInterruptedStream(t *testing.T) {
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	r := newSSEReader(resp.Body)
	e.b.commit("s1", 2)
	for range 2 {
		if _, err := r.next(); err != nil {
			t.Fatal(err)
		}
	}
	e.b.breakFollowers("s1")
	if evs := r.all(t); len(evs) != 0 {
		t.Errorf("events after the break: %v", evs)
	}

	done := make(chan *http.Response, 1)
	go func() {
		resp, err := e.srv.Client().Post(e.srv.URL+"/v1/completions", "application/json",
			strings.NewReader(`{"model":"stories260K","prompt":"Once upon a time"}`))
		if err != nil {
			resp = &http.Response{StatusCode: 0, Body: io.NopCloser(strings.NewReader(err.Error()))}
		}
		done <- resp
	}()
	waitFor(t, func() bool { return e.b.follows.Load() == 1 })
	e.b.breakFollowers("s2")
	resp = <-done
	defer resp.Body.Close()
	var got openAIError
	readJSON(t, resp, http.StatusServiceUnavailable, &got)
	if !strings.Contains(got.Error.Message, "/v1/sessions/cmpl-s2/events") || !strings.Contains(got.Error.Message, "X-Tabshard-Resume-Token") {
		t.Errorf("error %+v does not say how to resume", got.Error)
	}
	if resp.Header.Get("X-Tabshard-Resume-Token") == "" {
		t.Error("the 503 of an interrupted session carries no resume token")
	}
}

func TestKeepAlive(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.KeepAlive = 5 * time.Millisecond })
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	r := newSSEReader(resp.Body)
	time.Sleep(30 * time.Millisecond)
	e.b.commit("s1", len(e.b.script))
	checkEvents(t, r.all(t), 0, "text_completion")
	if r.comments == 0 {
		t.Error("no keep-alive comment while the stream was idle")
	}
}

// TestClientDisconnectStopsHandler: when the client goes away mid-stream or
// while waiting for a whole answer, the handler lets go of the session and
// returns, leaving no goroutine behind.
func TestClientDisconnectStopsHandler(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t)
	continuation(t, e.b, storyPrompt, storyRest)
	e.b.manual = true
	for _, stream := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		body := fmt.Sprintf(`{"model":"stories260K","prompt":"Once upon a time","stream":%t}`, stream)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := e.srv.Client().Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		waitFor(t, func() bool { return e.b.follows.Load() == 1 })
		cancel()
		e.b.waitFollows(t)
	}
	waitFor(t, func() bool { return metricValue(t, e, "tabshard_http_streams_active") == "0" })
	e.srv.Close()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor polls cond for up to 3 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("condition not met in time; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(2 * time.Millisecond)
	}
}
