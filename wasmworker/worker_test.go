//go:build !js

package wasmworker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"

	"github.com/tabshard/tabshard/coordinator"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker/link"
	"github.com/tabshard/tabshard/worker/agent"
)

const testToken = "tab-secret"

// startCoordinator runs an in-process coordinator with NATS over TCP and
// WebSocket on loopback, Raft in memory, and no workers.
func startCoordinator(t *testing.T, stages int) *coordinator.Coordinator {
	t.Helper()
	_, trans := raft.NewInmemTransport("c1")
	cfg := coordinator.DefaultConfig()
	cfg.Cluster, cfg.JoinToken, cfg.HTTPAddr = "tabs", testToken, "127.0.0.1:0"
	cfg.NATSPort, cfg.NATSWebSocketPort, cfg.RaftTransport, cfg.RaftTimeouts = 0, 0, trans, 50*time.Millisecond
	cfg.Heartbeat, cfg.Lease, cfg.MinWorkers, cfg.Stages = 100*time.Millisecond, time.Second, stages, stages
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := coordinator.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialWebSocket is a native stand-in for the page's WebSocket.
func dialWebSocket(ctx context.Context, url string) (net.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(-1)
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
}

// oracle is llama2.c's greedy continuation of "Once upon a time" (60 tokens).
func oracle(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/stories260K/once_upon_a_time_t0_n64.stdout.txt")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(b), "Once upon a time")
}

func complete(t *testing.T, base string) string {
	t.Helper()
	body := `{"prompt": "Once upon a time", "max_tokens": 60, "temperature": 0}`
	var out struct {
		Choices []struct{ Text string } `json:"choices"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(base+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil || len(out.Choices) != 1 {
				t.Fatalf("completion %s: %v", buf.String(), err)
			}
			return out.Choices[0].Text
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("completion: %s %s", resp.Status, buf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runTabs runs n CPU tab workers (tab a, b, …) against c until the test
// ends; retry is their Env.Retry (0: the default).
func runTabs(t *testing.T, c *coordinator.Coordinator, n int, retry time.Duration) []*Worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	workers := make([]*Worker, n)
	for i := range workers {
		p, err := ParseParams(c.HTTPURL() + "/worker?token=" + testToken + "&name=tab" + string(rune('a'+i)) + "&backend=cpu")
		if err != nil {
			t.Fatal(err)
		}
		workers[i] = New(p, Env{DialNATS: dialWebSocket, Store: &MemStore{}, Retry: retry})
		wg.Go(func() { workers[i].Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return workers
}

// TestTabsOverWebSocket runs three workers the way tabs do (NATS over a
// WebSocket through a custom dialer, weights through the caching
// transport) and checks the text against llama2.c.
func TestTabsOverWebSocket(t *testing.T) {
	c := startCoordinator(t, 3)
	workers := runTabs(t, c, 3, 0)
	for run := range 2 {
		rej := rejected(t, c.HTTPURL())
		if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
			t.Errorf("text\n got %q\nwant %q", got, want)
		}
		t.Logf("run %d: %d tokens rejected", run, rejected(t, c.HTTPURL())-rej)
	}
	for _, w := range workers {
		s := w.Status()
		if s.Phase != PhaseReady || s.Role != "primary" || s.NATS != "connected" || s.StageBytes == 0 || s.LoadedBytes < s.StageBytes || s.Positions == 0 {
			t.Errorf("status %+v", s)
		}
	}
}

// TestTabsOverLinks runs the same pipeline with a link beside NATS (in
// memory here, standing for a BroadcastChannel or a WebRTC data channel).
// The leader picks each hop's link from the tabs' browser ids and links;
// the tabs send over that link and no other. Where it is a direct link it
// carries every hop and each NATS twin is dropped; where it is NATS the
// link carries nothing. The text is the same either way.
func TestTabsOverLinks(t *testing.T) {
	bc, rtc, natsOnly := tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC, tabshardv1.Link_LINK_NATS
	for _, tc := range []struct {
		name     string
		browsers []string        // each tab's browser id
		as       tabshardv1.Link // the link the in-memory transport is
		want     []tabshardv1.Link
	}{
		{"one browser, BroadcastChannel", []string{"b1", "b1", "b1"}, bc, []tabshardv1.Link{natsOnly, bc, bc}},
		{"three browsers, BroadcastChannel only", []string{"b1", "b2", "b3"}, bc, []tabshardv1.Link{natsOnly, natsOnly, natsOnly}},
		{"three browsers, WebRTC", []string{"b1", "b2", "b3"}, rtc, []tabshardv1.Link{natsOnly, rtc, rtc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCoordinator(t, 3)
			workers := runLinkedTabs(t, c, tc.browsers, tc.as)
			direct := 0
			for _, l := range tc.want {
				if l != natsOnly {
					direct++
				}
			}
			checkLinkedRuns(t, c, workers, direct)
			var plan []tabshardv1.Link
			for _, s := range c.State().GetPlan().GetStages() {
				plan = append(plan, s.GetLink())
			}
			if !slices.Equal(plan, tc.want) {
				t.Errorf("the plan's links %v, want %v", plan, tc.want)
			}
		})
	}
}

// runLinkedTabs runs a tab per browser id, each with one in-memory
// transport that is the link as; they stop when the test ends.
func runLinkedTabs(t *testing.T, c *coordinator.Coordinator, browsers []string, as tabshardv1.Link) []*Worker {
	hub := &link.Hub{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	workers := make([]*Worker, len(browsers))
	for i, browser := range browsers {
		p, _ := ParseParams(c.HTTPURL() + "/worker?token=" + testToken + "&backend=cpu")
		workers[i] = New(p, Env{DialNATS: dialWebSocket, BrowserID: browser, Links: func(string, func() *nats.Conn) []link.Transport {
			return []link.Transport{hub.NewMemoryAs(as)}
		}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i].Run(ctx)
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return workers
}

// checkLinkedRuns runs two completions and checks their text and, in the
// second (the first also meets the plan's first steps, re-issued when the
// workers report the epoch), that the links carried each of the direct
// hops' 60 messages (the prompt's one and 59 steps) and nothing else.
func checkLinkedRuns(t *testing.T, c *coordinator.Coordinator, workers []*Worker, direct int) {
	sent := func() (sent, recv int64) {
		for _, w := range workers {
			for _, l := range w.linkStatus() {
				sent, recv = sent+l.Sent, recv+l.Recv
				if l.Kind != "memory" || l.State != "open" || l.Refused != 0 {
					t.Errorf("link %+v", l)
				}
			}
		}
		return sent, recv
	}
	// settled waits (a little) until every message sent has arrived.
	settled := func() (int64, int64) {
		s, r := sent()
		for deadline := time.Now().Add(2 * time.Second); s != r && time.Now().Before(deadline); s, r = sent() {
			time.Sleep(10 * time.Millisecond)
		}
		return s, r
	}
	for run := range 2 {
		s0, r0 := settled()
		rej0 := rejected(t, c.HTTPURL())
		if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
			t.Errorf("text\n got %q\nwant %q", got, want)
		}
		s1, r1 := settled()
		rej1 := rejected(t, c.HTTPURL())
		t.Logf("run %d: the links carried %d messages (%d received); %d tokens rejected", run, s1-s0, r1-r0, rej1-rej0)
		// Under load a hop may go by NATS alone while a link connects, or
		// a step be re-issued: a message either way, no more.
		want, slack := int64(direct*60), int64(min(direct, 1))
		if run == 1 && (s1-s0 < want-slack || s1-s0 > want+slack || r1-r0 != s1-s0 || rej1 != rej0) {
			t.Errorf("the second run: %d sent, %d received, %d rejected; want %d (±1) sent and received, 0 rejected", s1-s0, r1-r0, rej1-rej0, want)
		}
	}
}

// rejected counts the tokens the coordinator rejected as duplicates.
func rejected(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	n := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, "tabshard_rejected_messages_total{") && strings.Contains(line, "duplicate") {
			var v float64
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v)
			n += int(v)
		}
	}
	return n
}

func TestWrongTokenIsRefused(t *testing.T) {
	c := startCoordinator(t, 1)
	p, _ := ParseParams(c.HTTPURL() + "/worker?token=wrong")
	shown := make(chan Status, 100)
	w := New(p, Env{DialNATS: dialWebSocket, OnStatus: func(s Status) {
		select {
		case shown <- s:
		default:
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := w.Run(ctx)
	if !errors.Is(err, agent.ErrRefused) {
		t.Fatalf("Run: %v, want ErrRefused", err)
	}
	if s := w.Status(); s.Phase != PhaseRefused || !strings.Contains(s.Error, "wrong join token") {
		t.Errorf("status %+v", s)
	}
	time.Sleep(2 * minEmitInterval)
	var last Status
	for len(shown) > 0 {
		last = <-shown
	}
	if last.Phase != PhaseRefused {
		t.Errorf("the page last saw %+v", last)
	}
	if n := len(c.State().GetMembers()); n != 0 {
		t.Errorf("%d members after a refused join", n)
	}
}

// TestClosingTabLeavesForGood: a tab that says goodbye (pagehide) gives its
// stage to its standby and does not come back as a member while it is
// leaving, however the leader answers; a page the browser shows again
// (pageshow, the back-forward cache) joins as a new member and becomes a
// standby, never the stage it left.
func TestClosingTabLeavesForGood(t *testing.T) {
	c := startCoordinator(t, 2) // two stages; the third tab is a standby
	workers := runTabs(t, c, 3, 100*time.Millisecond)
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Fatalf("text\n got %q\nwant %q", got, want)
	}
	stage1 := c.State().GetPlan().GetStages()[1].GetDeviceId()
	var leaving *Worker
	for _, w := range workers {
		if w.Status().WorkerID == stage1 {
			leaving = w
		}
	}
	if leaving == nil {
		t.Fatalf("no tab runs stage 1 (%s)", stage1)
	}
	leaving.PageEvent(EventPageHide)
	deadline := time.Now().Add(10 * time.Second)
	for c.State().GetPlan().GetStages()[1].GetDeviceId() == stage1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // long enough for many rejoins at a Retry of 100 ms
	if n := len(c.State().GetMembers()); n != 3 {
		t.Fatalf("%d members after a tab left, want 3: the leaving tab rejoined", n)
	}
	if got := c.State().GetPlan().GetStages()[1].GetDeviceId(); got == stage1 {
		t.Fatalf("stage 1 still on the tab that left (%s)", got)
	}
	if s := leaving.Status(); s.Phase != PhaseLeft {
		t.Errorf("the leaving tab's status: %+v", s)
	}
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Fatalf("text after the tab left\n got %q\nwant %q", got, want)
	}

	leaving.PageEvent(EventPageShow)
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := leaving.Status()
		if s.WorkerID != "" && s.WorkerID != stage1 && s.Role == "standby" {
			t.Logf("shown again: %s, %s of stage %d", s.WorkerID, s.Role, s.Stage)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page shown again: %+v, want a new member that is a standby", leaving.Status())
}
