package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOverload: 2 × max-sessions clients on loopback. The first
// max-sessions run; of the rest, max-queued wait for a slot and finish,
// and the others get 429 with Retry-After at once. Nothing hangs.
func TestOverload(t *testing.T) {
	const maxSessions, maxQueued = 4, 2
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Coordinators: 1, Stages: 3, Standbys: 0, MaxSessions: maxSessions, MaxQueued: maxQueued, StepTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	url := c.URLs()[0]
	// The first maxSessions stream long generations; each has its first
	// token before the others come.
	var running sync.WaitGroup
	first := make(chan struct{}, maxSessions)
	runErrs := make([]error, maxSessions)
	for i := range maxSessions {
		running.Go(func() { runErrs[i] = streamLong(ctx, url, 400, first) })
	}
	for range maxSessions {
		select {
		case <-first:
		case <-ctx.Done():
			t.Fatal("the first sessions did not start")
		}
	}
	codes := make([]int, maxSessions)
	retry := make([]string, maxSessions)
	var late sync.WaitGroup
	for i := range maxSessions {
		late.Go(func() { codes[i], retry[i] = postShort(ctx, url, 10) })
	}
	late.Wait()
	running.Wait()
	for i, err := range runErrs {
		if err != nil {
			t.Errorf("running session %d: %v", i, err)
		}
	}
	ok, refused := 0, 0
	for i, code := range codes {
		switch {
		case code == http.StatusOK:
			ok++
		case code == http.StatusTooManyRequests:
			refused++
			if n, err := strconv.Atoi(retry[i]); err != nil || n < 1 {
				t.Errorf("429 with Retry-After %q", retry[i])
			}
		default:
			t.Errorf("late client %d: status %d", i, code)
		}
	}
	if ok != maxQueued || refused != maxSessions-maxQueued {
		t.Errorf("late clients: %d served after queueing, %d refused; want %d and %d", ok, refused, maxQueued, maxSessions-maxQueued)
	}
	text := scrape(t, url+"/metrics")
	if n := counterValue(text, "tabshard_sessions_rejected_total"); n != maxSessions-maxQueued {
		t.Errorf("tabshard_sessions_rejected_total %v", n)
	}
	if n := counterValue(text, "tabshard_session_queue_seconds_count"); n < maxSessions+maxQueued {
		t.Errorf("tabshard_session_queue_seconds_count %v, want %d admissions", n, maxSessions+maxQueued)
	}
}

// streamLong streams a generation of n tokens, signalling first at its
// first token, and checks that all n came.
func streamLong(ctx context.Context, url string, n int, first chan<- struct{}) error {
	body, _ := json.Marshal(map[string]any{"prompt": "Once upon a time", "max_tokens": n, "temperature": 0, "ignore_eos": true, "stream": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	events := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			break
		}
		if strings.HasPrefix(line, "data:") {
			if events++; events == 1 {
				first <- struct{}{}
			}
		}
	}
	if events != n+1 { // n tokens and the final chunk
		return fmt.Errorf("%d events, want %d", events, n+1)
	}
	return nil
}

// postShort asks for n tokens without streaming and returns the status and
// Retry-After.
func postShort(ctx context.Context, url string, n int) (int, string) {
	body, _ := json.Marshal(map[string]any{"prompt": "The cat", "max_tokens": n, "temperature": 0, "ignore_eos": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if resp.StatusCode == http.StatusOK && (json.NewDecoder(resp.Body).Decode(&out) != nil || out.Usage.CompletionTokens != n) {
		return -1, ""
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}
