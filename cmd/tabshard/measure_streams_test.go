package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarizeStreams(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	// Three streams: 4, 2 and 2 tokens decoded after their first, from
	// 100 ms (the first first token) to 1100 ms (the last token): 8
	// tokens/s; the streams' own rates 5, 2.5 and 5.
	st, err := summarizeStreams([][]time.Duration{ms(100, 300, 500, 700, 900), ms(300, 700, 1100), ms(200, 400, 600)})
	if err != nil {
		t.Fatal(err)
	}
	want := streamStats{aggregate: 8, stream: 5, ttft: 200, lastTTFT: 300, wall: 1100}
	for name, g := range map[string][2]float64{
		"aggregate": {st.aggregate, want.aggregate}, "stream": {st.stream, want.stream}, "ttft": {st.ttft, want.ttft},
		"last ttft": {st.lastTTFT, want.lastTTFT}, "wall": {st.wall, want.wall},
	} {
		if math.Abs(g[0]-g[1]) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, g[0], g[1])
		}
	}
	for _, bad := range [][][]time.Duration{nil, {ms(100)}, {ms(100, 200), ms(300, 300)}} {
		if _, err := summarizeStreams(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestMeasureStreamsFlag(t *testing.T) {
	for _, v := range []string{"-1", "1025"} {
		_, errOut, code := tabshard(t, "measure", "--streams", v, "--coordinator", "http://127.0.0.1:1")
		if code != 2 || !strings.Contains(errOut, "--streams") {
			t.Errorf("--streams %s: exit %d %q, want a usage error", v, code, errOut)
		}
	}
}

// sseServer answers completions as the coordinator streams them: one
// "id:"/"data:" event per token, then the end; a prompt starting with
// token 0 is refused with 429.
func sseServer(t *testing.T, started *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Prompt    []int `json:"prompt"`
			MaxTokens int   `json:"max_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		started.Add(1)
		if len(req.Prompt) > 0 && req.Prompt[0] == 0 {
			http.Error(w, "too many sessions", http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range req.MaxTokens {
			fmt.Fprintf(w, "id: %d\ndata: {\"choices\":[{\"text\":\"x\",\"finish_reason\":null}]}\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
		}
		fmt.Fprintf(w, "id: end\ndata: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunStreams(t *testing.T) {
	var started atomic.Int32
	srv := sseServer(t, &started)
	c := measureConfig{coordinator: srv.URL, wait: time.Minute}
	times, err := runStreams(context.Background(), srv.Client(), c, [][]int{{5, 6}, {7}, {8, 9, 10}}, 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 3 || started.Load() != 3 {
		t.Fatalf("%d streams timed, %d started", len(times), started.Load())
	}
	for i, ts := range times {
		if len(ts) != 6 || !slices.IsSorted(ts) || ts[0] <= 0 {
			t.Errorf("stream %d: times %v", i, ts)
		}
	}
	if _, err := summarizeStreams(times); err != nil {
		t.Fatal(err)
	}
	// One refused stream fails the run with its own error.
	_, err = runStreams(context.Background(), srv.Client(), c, [][]int{{5}, {0}, {7}}, 40)
	if err == nil || !strings.Contains(err.Error(), "stream 1") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a refused stream: %v", err)
	}
}
