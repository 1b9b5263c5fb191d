package browser

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStageWithoutWorkerTellsTheClient: a stage's tab closes and no tab can
// take the stage over. The client is not left hanging: within the stall
// notice its stream gets an error event that says which stage has no worker
// and what to do. Opening one more tab lets the session go on, and the
// client, resuming with Last-Event-ID, gets llama2.c's text.
func TestStageWithoutWorkerTellsTheClient(t *testing.T) {
	const notice = 4 * time.Second
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 2, stallNotice: notice})
	tabs := openWorkers(t, b, c, 2, onCPU)
	victimID := c.State().GetPlan().GetStages()[1].GetDeviceId()
	var victim *tab
	for _, tb := range tabs {
		if tb.status().WorkerID == victimID {
			victim = tb
		}
	}
	if victim == nil {
		t.Fatalf("no tab runs stage 1 (%s)", victimID)
	}

	dash := b.open("dashboard", c.HTTPURL()+"/dashboard")
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want { // tokens/s above zero
		t.Fatalf("text before the tab closed\n got %q\nwant %q", got, want)
	}
	// The stage's tab closes before the next completion starts: it cannot
	// finish whatever the machine's speed.
	victim.close()
	closed := time.Now()
	resp, err := http.Post(c.HTTPURL()+"/v1/completions", "application/json", strings.NewReader(completionBody))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("completion: %v %v", resp.Status, err)
	}
	session, token := resp.Header.Get("X-Tabshard-Session"), resp.Header.Get("X-Tabshard-Resume-Token")
	r := newEventReader(t, resp)
	text, last := "", -1
	for {
		piece, id := r.next()
		if r.errorEvent != nil {
			break
		}
		if r.done {
			t.Fatal("the stream finished with stage 1's tab closed and no worker to take it over")
		}
		text, last = text+piece, id
	}
	msg := r.errorEvent.Error.Message
	t.Logf("error event %v after the tab closed (notice %v): %s", time.Since(closed).Round(time.Millisecond), notice, msg)
	if r.errorEvent.Error.Code != "stage_unavailable" || !strings.Contains(msg, "stage 1 has no worker") || !strings.Contains(msg, "open one more worker tab") {
		t.Errorf("the error event: %+v", r.errorEvent)
	}
	checkDashboardDuringStall(t, dash)
	openWorkers(t, b, c, 1, onCPU) // a new tab takes the stage over
	req, _ := http.NewRequest(http.MethodGet, c.HTTPURL()+"/v1/sessions/"+session+"/events", nil)
	if last >= 0 {
		req.Header.Set("Last-Event-ID", strconv.Itoa(last))
	}
	req.Header.Set("X-Tabshard-Resume-Token", token)
	resumed, err := http.DefaultClient.Do(req)
	if err != nil || resumed.StatusCode != http.StatusOK {
		t.Fatalf("resume: %v %v", resumed.Status, err)
	}
	r = newEventReader(t, resumed)
	for {
		piece, _ := r.next()
		if r.done || r.errorEvent != nil {
			break
		}
		text += piece
	}
	if r.errorEvent != nil {
		t.Fatalf("after a new tab joined: %+v", r.errorEvent)
	}
	if want := oracle(t); text != want {
		t.Errorf("text\n got %q\nwant %q", text, want)
	}
}

// eventReader reads a completion's Server-Sent Events: text pieces with
// their ids, an error event, or [DONE].
type eventReader struct {
	t          *testing.T
	sc         *bufio.Scanner
	done       bool
	errorEvent *struct {
		Error struct{ Message, Code string } `json:"error"`
	}
}

func newEventReader(t *testing.T, resp *http.Response) *eventReader {
	t.Cleanup(func() { resp.Body.Close() })
	return &eventReader{t: t, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next piece of text and its event id; at the end it
// sets done or errorEvent (a stream that breaks otherwise fails the test).
func (r *eventReader) next() (string, int) {
	id, isError := -1, false
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "event: error":
			isError = true
		case strings.HasPrefix(line, "id: "):
			id, _ = strconv.Atoi(strings.TrimPrefix(line, "id: "))
		case line == "data: [DONE]":
			r.done = true
			return "", id
		case strings.HasPrefix(line, "data: ") && isError:
			r.errorEvent = new(struct {
				Error struct{ Message, Code string } `json:"error"`
			})
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), r.errorEvent); err != nil {
				r.t.Fatalf("error event %q: %v", line, err)
			}
			return "", id
		case strings.HasPrefix(line, "data: "):
			var chunk struct {
				Choices []struct{ Text string } `json:"choices"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &chunk); err != nil || len(chunk.Choices) != 1 {
				r.t.Fatalf("event %q: %v", line, err)
			}
			return chunk.Choices[0].Text, id
		}
	}
	r.t.Fatalf("the stream broke: %v", r.sc.Err())
	return "", id
}

// checkDashboardDuringStall reads the dashboard while the session waits:
// stage 1 is drawn as down, and tokens/s — a rate of the token counter —
// was above zero and now reads zero.
func checkDashboardDuringStall(t *testing.T, dash *tab) {
	t.Helper()
	var got struct {
		Health string     `json:"health"`
		Values []*float64 `json:"values"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := dash.eval(`(() => ({ health: document.querySelector('[data-stage="1"]')?.dataset.health || "",
			values: (window.tabshardDashboard.charts.tps.lines.get("tokens/s") || []).map((p) => p.v) }))()`, &got)
		if err != nil {
			t.Fatalf("reading the dashboard: %v", err)
		}
		var peak float64
		for _, v := range got.Values {
			if v != nil {
				peak = max(peak, *v)
			}
		}
		n := len(got.Values)
		if got.Health != "ok" && got.Health != "" && peak > 0 && n > 0 && got.Values[n-1] != nil && *got.Values[n-1] == 0 {
			t.Logf("dashboard during the stall: stage 1 %q, tokens/s peaked at %.1f, now 0", got.Health, peak)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard during the stall: stage 1 %q, tokens/s %d points, peak %.1f", got.Health, n, peak)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
