package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request is a completion the simulated client asks for.
type Request struct {
	Name        string // names the session in the timeline
	Prompt      string
	MaxTokens   int
	Temperature float64
	TopP        float64
	Seed        uint64
	// Extra holds more request fields (penalties, stop, ...).
	Extra map[string]any
}

// Event is one streamed token (or the final chunk) as the client saw it.
type Event struct {
	Session      string
	Index        int
	Text         string
	FinishReason string
	At           time.Time
	Coordinator  string // the URL that sent it
}

// Result is what one client got.
type Result struct {
	Session string
	// ResumeToken is the session's resume token (header
	// X-Tabshard-Resume-Token of the answer that started it): what
	// resuming the session needs.
	ResumeToken  string
	Text         string
	Events       []Event // tokens and the final chunk, in arrival order
	FinishReason string
	Reconnects   int
	// Violations lists what broke the stream's contract: an event whose
	// id is not the next one (a lost or repeated token), a stream that
	// ended without its final chunk.
	Violations []string
}

// Tokens is how many token events (not the final chunk) the client got.
func (r *Result) Tokens() int {
	n := 0
	for _, e := range r.Events {
		if e.FinishReason == "" {
			n++
		}
	}
	return n
}

// client streams completions over SSE and resumes broken streams at
// whichever coordinator answers, with Last-Event-ID.
type client struct {
	urls  func() []string // the coordinators' HTTP URLs, live ones first
	http  *http.Client
	stall time.Duration // a stream silent this long is abandoned
	tl    *Timeline
	// apiKey, when set, goes with every request as a bearer token.
	apiKey string
}

// authorize adds the client's API key to hr.
func (c *client) authorize(hr *http.Request) {
	if c.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
}

// stream runs req to its end. onEvent is called for each event, in order,
// from the client's goroutine.
func (c *client) stream(ctx context.Context, req Request, onEvent func(Event)) (*Result, error) {
	res := &Result{}
	body, session, url, err := c.start(ctx, req, res)
	if err != nil {
		return res, err
	}
	res.Session = session
	c.tl.Add(KindStream, map[string]string{"session": req.Name}, "%s: session %s started at %s", req.Name, res.Session, url)
	last := -1
	for attempt := 0; ; attempt++ {
		done, err := c.read(ctx, req.Name, body, url, res, &last, onEvent)
		body.Close()
		if done {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		c.tl.Add(KindStream, map[string]string{"session": req.Name}, "%s: stream from %s broke after event %d (%v); resuming", req.Name, url, last, err)
		body, url, err = c.resume(ctx, res, last, attempt)
		if err != nil {
			return res, err
		}
		res.Reconnects++
		c.tl.Add(KindStream, map[string]string{"session": req.Name}, "%s: resumed at %s after event %d", req.Name, url, last)
	}
}

// start posts the completion, retrying at other coordinators while none
// can start it (no leader, no plan yet), and keeps the session's resume
// token in res.
func (c *client) start(ctx context.Context, req Request, res *Result) (io.ReadCloser, string, string, error) {
	body := map[string]any{
		"prompt": req.Prompt, "max_tokens": req.MaxTokens, "temperature": req.Temperature,
		"top_p": req.TopP, "seed": int64(req.Seed), "stream": true,
	}
	for k, v := range req.Extra {
		body[k] = v
	}
	payload, _ := json.Marshal(body)
	var last error
	for attempt := 0; ; attempt++ {
		urls := c.urls()
		if len(urls) > 0 {
			url := urls[attempt%len(urls)]
			hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(payload))
			hr.Header.Set("Content-Type", "application/json")
			c.authorize(hr)
			resp, err := c.http.Do(hr)
			if err == nil && resp.StatusCode == http.StatusOK {
				if id := resp.Header.Get("X-Tabshard-Session"); id != "" {
					res.ResumeToken = resp.Header.Get("X-Tabshard-Resume-Token")
					return resp.Body, id, url, nil
				}
				resp.Body.Close()
				return nil, "", "", fmt.Errorf("%s: no X-Tabshard-Session header", url)
			}
			last = responseError(resp, err)
			if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
				return nil, "", "", last
			}
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return nil, "", "", fmt.Errorf("starting %s: %w (last: %v)", req.Name, err, last)
		}
	}
}

// resume reopens the session's events after last at the next coordinator
// that answers, with the session's resume token.
func (c *client) resume(ctx context.Context, res *Result, last, attempt int) (io.ReadCloser, string, error) {
	session := res.Session
	var lastErr error
	for try := 0; ; try++ {
		urls := c.urls()
		if len(urls) > 0 {
			url := urls[(attempt+1+try)%len(urls)]
			hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/sessions/"+session+"/events", nil)
			hr.Header.Set("Last-Event-ID", strconv.Itoa(last))
			hr.Header.Set("X-Tabshard-Resume-Token", res.ResumeToken)
			c.authorize(hr)
			resp, err := c.http.Do(hr)
			if err == nil && resp.StatusCode == http.StatusOK {
				return resp.Body, url, nil
			}
			lastErr = responseError(resp, err)
		}
		if err := sleep(ctx, backoff(try)); err != nil {
			return nil, "", fmt.Errorf("resuming session %s: %w (last: %v)", session, err, lastErr)
		}
	}
}

func responseError(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}

func backoff(attempt int) time.Duration {
	return min(time.Duration(attempt+1)*20*time.Millisecond, 250*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sseChunk is the part of a streamed text_completion chunk the client reads.
type sseChunk struct {
	Choices []struct {
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// read consumes one SSE response. It returns done after "data: [DONE]",
// else why the stream stopped. A stream silent for c.stall is abandoned.
func (c *client) read(ctx context.Context, name string, body io.ReadCloser, url string, res *Result, last *int, onEvent func(Event)) (bool, error) {
	watchdog := time.AfterFunc(c.stall, func() { body.Close() })
	defer watchdog.Stop()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	id := -1
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) == 0 {
				continue
			}
			payload := strings.Join(data, "\n")
			data = data[:0]
			if payload == "[DONE]" {
				if res.FinishReason == "" {
					res.Violations = append(res.Violations, "[DONE] before the final chunk")
				}
				return true, nil
			}
			watchdog.Reset(c.stall)
			if err := c.event(name, id, payload, url, res, last, onEvent); err != nil {
				return false, err
			}
		case strings.HasPrefix(line, ":"):
			// keep-alive
		case strings.HasPrefix(line, "id:"):
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "id:")))
			if err != nil {
				return false, fmt.Errorf("bad event id %q", line)
			}
			id = n
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, io.ErrUnexpectedEOF
}

// event checks one event against the stream so far and records it.
func (c *client) event(name string, id int, payload, url string, res *Result, last *int, onEvent func(Event)) error {
	var ch sseChunk
	if err := json.Unmarshal([]byte(payload), &ch); err != nil {
		return fmt.Errorf("event %d: %w", id, err)
	}
	if ch.Error != nil {
		return fmt.Errorf("event %d: generation failed: %s", id, ch.Error.Message)
	}
	if len(ch.Choices) != 1 {
		return fmt.Errorf("event %d: %d choices", id, len(ch.Choices))
	}
	if id != *last+1 {
		kind := "lost"
		if id <= *last {
			kind = "repeated"
		}
		res.Violations = append(res.Violations, fmt.Sprintf("event %d after event %d from %s (%s)", id, *last, url, kind))
		if id <= *last {
			return nil // drop the repeat; the text must stay the server's
		}
	}
	*last = id
	ev := Event{Session: res.Session, Index: id, Text: ch.Choices[0].Text, At: time.Now(), Coordinator: url}
	if fr := ch.Choices[0].FinishReason; fr != nil {
		ev.FinishReason = *fr
		res.FinishReason = *fr
	}
	res.Text += ev.Text
	res.Events = append(res.Events, ev)
	if ev.FinishReason == "" {
		c.tl.Add(KindToken, map[string]string{"session": name, "index": strconv.Itoa(id)}, "%s: token %d %q", name, id, ev.Text)
	} else {
		c.tl.Add(KindStream, map[string]string{"session": name}, "%s: finished (%s) after %d tokens", name, ev.FinishReason, id)
	}
	if onEvent != nil {
		onEvent(ev)
	}
	return nil
}
