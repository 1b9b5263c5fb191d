package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tabshard/tabshard/coordinator/api"
)

// env is a server over a fake backend.
type env struct {
	b       *fakeBackend
	srv     *httptest.Server
	metrics *api.Metrics
	logs    *syncBuffer
}

func newEnv(t *testing.T, configure ...func(*api.Options)) *env {
	t.Helper()
	e := &env{b: newFakeBackend(t), metrics: api.NewMetrics(), logs: &syncBuffer{}}
	opts := api.Options{
		Metrics:   e.metrics,
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		KeepAlive: -1,
	}
	for _, c := range configure {
		c(&opts)
	}
	e.srv = httptest.NewServer(api.New(e.b, opts))
	t.Cleanup(e.srv.Close)
	client := e.srv.Client()
	client.Transport = &creatorTransport{next: client.Transport, tokens: map[string]string{}}
	return e
}

// creatorTransport is the client of the sessions it starts: it keeps the
// resume token of each session it started and presents it when it reads
// the session again, as a client that resumes its own stream does. Tests
// of what others may read use a client without it.
type creatorTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	tokens map[string]string // session id → resume token
}

func (c *creatorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(req.URL.Path, "/v1/sessions/"); ok && req.Header.Get("X-Tabshard-Resume-Token") == "" {
		id, _, _ := strings.Cut(rest, "/")
		id = strings.TrimPrefix(strings.TrimPrefix(id, "chatcmpl-"), "cmpl-")
		c.mu.Lock()
		token := c.tokens[id]
		c.mu.Unlock()
		if token != "" {
			req = req.Clone(req.Context())
			req.Header.Set("X-Tabshard-Resume-Token", token)
		}
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil {
		if id, token := resp.Header.Get("X-Tabshard-Session"), resp.Header.Get("X-Tabshard-Resume-Token"); id != "" && token != "" {
			c.mu.Lock()
			c.tokens[id] = token
			c.mu.Unlock()
		}
	}
	return resp, err
}

// syncBuffer is a bytes.Buffer safe for the handlers' concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// do sends a request with an optional body and headers ("Name: value").
func (e *env) do(t testing.TB, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	return e.doContext(t, context.Background(), method, path, body, headers...)
}

func (e *env) doContext(t testing.TB, ctx context.Context, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *env) post(t testing.TB, path, body string) *http.Response {
	t.Helper()
	return e.do(t, http.MethodPost, path, body, "Content-Type: application/json")
}

// readJSON decodes a response body, checking its status.
func readJSON(t testing.TB, resp *http.Response, status int, v any) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
}

// openAIError is the error body every failure carries.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func (o openAIError) param() string {
	if o.Error.Param == nil {
		return ""
	}
	return *o.Error.Param
}

func (o openAIError) code() string {
	if o.Error.Code == nil {
		return ""
	}
	return *o.Error.Code
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID   string
	Data string
}

// sseReader parses an event stream, skipping comments.
type sseReader struct {
	r        *bufio.Reader
	comments int
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReader(r)} }

// next returns the next event, or io.EOF at the end of the stream.
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && len(data) == 0 && ev.ID == "" {
				return ev, io.EOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && (len(data) > 0 || ev.ID != ""):
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		case line == "":
		case strings.HasPrefix(line, ":"):
			s.comments++
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// all reads the events up to the end of the stream.
func (s *sseReader) all(t testing.TB) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for {
		ev, err := s.next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

// streamChunk is the union of the fields of text and chat chunks.
type streamChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int     `json:"index"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
		Delta        *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
}

func (c streamChunk) text() string {
	ch := c.Choices[0]
	switch {
	case ch.Text != nil:
		return *ch.Text
	case ch.Delta != nil && ch.Delta.Content != nil:
		return *ch.Delta.Content
	}
	return ""
}

func (c streamChunk) finish() string {
	if f := c.Choices[0].FinishReason; f != nil {
		return *f
	}
	return ""
}

// chunks decodes the events before [DONE] and reports whether [DONE] came.
func chunks(t testing.TB, evs []sseEvent) (out []streamChunk, ids []string, done bool) {
	t.Helper()
	for i, ev := range evs {
		if ev.Data == "[DONE]" {
			if i != len(evs)-1 {
				t.Fatalf("events after [DONE]: %v", evs[i+1:])
			}
			return out, ids, true
		}
		var c streamChunk
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("event %d: %v in %s", i, err, ev.Data)
		}
		out = append(out, c)
		ids = append(ids, ev.ID)
	}
	return out, ids, false
}

func joinText(cs []streamChunk) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.text())
	}
	return b.String()
}
