package browser

import (
	"slices"
	"strings"
	"testing"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker"
)

// TestThreeTabs: three worker tabs (CPU backend; TestMixedBackends runs
// WebGPU) run stories260K in three stages; the chat page's streamed text
// equals llama2.c's; the hops go over BroadcastChannel; the dashboard and
// the launcher work; a tab with a wrong token is refused with a clear
// error and changes nothing.
func TestThreeTabs(t *testing.T) {
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 3})
	tabs := openWorkers(t, b, c, 3, onCPU)
	stages := map[int]bool{}
	for _, tb := range tabs {
		s := tb.status()
		if s.Role != "primary" || s.LoadedBytes < s.StageBytes || s.StageBytes == 0 || s.NATS != "connected" {
			t.Errorf("tab %s: %+v", tb.name, s)
		}
		stages[s.Stage] = true
	}
	if len(stages) != 3 {
		t.Fatalf("stages %v: want 0, 1 and 2 on three tabs", stages)
	}

	chat := b.open("chat", c.HTTPURL()+"/chat")
	if err := chat.eval(`document.getElementById("max_tokens").value = "60"; document.getElementById("send").click(); true`, new(bool)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Text  string `json:"text"`
		Done  bool   `json:"done"`
		Error string `json:"error"`
	}
	for deadline := time.Now().Add(90 * time.Second); !got.Done && got.Error == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := chat.eval(`window.tabshardChat`, &got); err != nil {
			t.Fatal(err)
		}
	}
	if want := oracle(t); got.Text != want || got.Error != "" {
		t.Fatalf("chat page text\n got %q (error %q, done %v)\nwant %q", got.Text, got.Error, got.Done, want)
	}

	t.Run("broadcast links", func(t *testing.T) {
		// The leader picked BroadcastChannel for both hops: the tabs share
		// one browser id and offer it.
		st := c.State()
		plan := st.GetPlan().GetStages()
		if got, want := planLinks(st.GetPlan()), []tabshardv1.Link{tabshardv1.Link_LINK_NATS, tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_BROADCAST_CHANNEL}; !slices.Equal(got, want) {
			t.Errorf("the committed plan's links %v, want %v", got, want)
		}
		browsers := map[string]bool{}
		for _, m := range st.GetMembers() {
			caps := m.GetCapabilities()
			browsers[caps.GetBrowserId()] = true
			if !slices.Contains(caps.GetLinks(), tabshardv1.Link_LINK_BROADCAST_CHANNEL) || !slices.Contains(caps.GetLinks(), tabshardv1.Link_LINK_WEBRTC) {
				t.Errorf("member %s offers %v, want BroadcastChannel and WebRTC", m.GetWorkerId(), caps.GetLinks())
			}
		}
		if len(browsers) != 1 || browsers[""] {
			t.Errorf("the tabs of one browser report browser ids %v, want one", browsers)
		}
		// Tabs of one browser hand activations over BroadcastChannel.
		for _, tb := range tabs {
			stage := tb.status().Stage
			if stage == 2 {
				continue
			}
			next := plan[stage+1].GetDeviceId()
			busy := func(s wasmworker.Status) bool {
				for _, l := range s.Links {
					if l.Peer == next && l.Kind == "broadcast" && l.State == "open" && l.Sent >= 60 && l.Refused == 0 {
						return true
					}
				}
				return false
			}
			tb.waitStatus("a busy BroadcastChannel link to "+next, 5*time.Second, busy) // the page's links lag up to 0.5s
		}
	})
	t.Run("dashboard", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		dash := b.open("dashboard", c.HTTPURL()+"/dashboard")
		var shown struct {
			Stages, Members, Hops int
			Plan                  string
		}
		good := func() bool {
			return shown.Stages == 3 && shown.Members == 3 && shown.Hops == 2 && strings.Count(shown.Plan, "BroadcastChannel") == 2
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !good(); time.Sleep(200 * time.Millisecond) {
			dash.eval(`({stages: document.querySelectorAll("#plan .stage").length, members: document.querySelectorAll("#members tr").length,
				hops: document.querySelectorAll('#plan .hop[data-link="LINK_BROADCAST_CHANNEL"]').length, plan: document.getElementById("plan").textContent})`, &shown)
		}
		time.Sleep(2 * time.Second) // a few points on the charts
		dash.screenshot("dashboard")
		tabs[1].screenshot("worker")
		chat.screenshot("chat")
		if !good() {
			t.Errorf("the dashboard shows %+v, want 3 stages, 3 members and 2 BroadcastChannel hops", shown)
		}
	})
	t.Run("launcher", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		l := b.open("launcher", c.HTTPURL()+"/launcher?token="+joinToken)
		if err := l.eval(`document.getElementById("count").value = "1"; document.querySelector("#form button[type=submit]").click(); true`, new(bool)); err != nil {
			t.Fatal(err)
		}
		var row string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			l.eval(`document.getElementById("tabs").textContent`, &row)
			if strings.Contains(row, "joined") || strings.Contains(row, "ready") {
				break
			}
		}
		if !strings.Contains(row, "tab-1") || !(strings.Contains(row, "joined") || strings.Contains(row, "ready")) {
			t.Errorf("the launcher's tab table: %q", row)
		}
		l.eval(`document.getElementById("close").click(); true`, new(bool))
	})
	t.Run("wrong token", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		before := len(c.State().GetMembers())
		bad := b.open("bad", c.HTTPURL()+"/worker?token=not-the-token")
		s := bad.waitStatus("refused", 60*time.Second, func(s wasmworker.Status) bool {
			return s.Phase != "" && s.Phase != wasmworker.PhaseStarting && s.Phase != wasmworker.PhaseConnecting
		})
		if s.Phase != wasmworker.PhaseRefused || !strings.Contains(s.Error, "wrong join token") {
			t.Errorf("a tab with a wrong token: %+v", s)
		}
		var shown string
		bad.eval(`document.getElementById("error").textContent`, &shown)
		if !strings.Contains(shown, "wrong join token") {
			t.Errorf("the page shows %q", shown)
		}
		if n := len(c.State().GetMembers()); n != before {
			t.Errorf("%d members after the refused tab, %d before", n, before)
		}
		if text := complete(t, c.HTTPURL()); text != oracle(t) {
			t.Errorf("after the refused tab: %q", text)
		}
	})
	t.Run("no token", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		bad := b.open("notoken", c.HTTPURL()+"/worker")
		s := bad.waitStatus("refused", 60*time.Second, func(s wasmworker.Status) bool { return s.Phase == wasmworker.PhaseRefused })
		if !strings.Contains(s.Error, "no join token") {
			t.Errorf("a tab without a token: %+v", s)
		}
	})
}

// planLinks lists the link of each stage of plan: the link of its input.
func planLinks(plan *tabshardv1.Plan) []tabshardv1.Link {
	var out []tabshardv1.Link
	for _, s := range plan.GetStages() {
		out = append(out, s.GetLink())
	}
	return out
}
