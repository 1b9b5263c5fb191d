package browser

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTabClosedMidGeneration: a stage's tab is closed while a completion
// streams; its standby tab takes the stage over, rebuilds the KV cache from
// the activation log, and the text is still llama2.c's.
func TestTabClosedMidGeneration(t *testing.T) {
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{stages: 3, minWorkers: 4, standbys: 1})
	tabs := openWorkers(t, b, c, 4, onCPU)
	stage1 := c.State().GetPlan().GetStages()[1]
	var victim, standby *tab
	victimID := stage1.GetDeviceId()
	for _, tb := range tabs {
		switch id := tb.status().WorkerID; {
		case id == victimID:
			victim = tb
		case len(stage1.GetStandbyDeviceIds()) > 0 && id == stage1.GetStandbyDeviceIds()[0]:
			standby = tb
		}
	}
	if victim == nil || standby == nil {
		t.Fatalf("no primary and standby of stage 1 among the tabs; plan %v", c.State().GetPlan())
	}

	dash := b.open("dashboard", c.HTTPURL()+"/dashboard")
	pieces := stream(t, c.HTTPURL())
	var text strings.Builder
	text.WriteString(<-pieces)
	victim.close()
	before := len(text.String())
	for p := range pieces {
		text.WriteString(p)
	}
	t.Logf("tab %s (%s) closed after %d of %d bytes of text", victim.name, victimID, before, len(text.String()))
	if want := oracle(t); text.String() != want {
		t.Errorf("text after the failover\n got %q\nwant %q", text.String(), want)
	}
	var moved bool
	for _, f := range c.State().GetFailovers() {
		if f.GetFromWorkerId() == victimID && f.GetStage() == 1 {
			moved = true
			t.Logf("failover: %v", f)
		}
	}
	for _, m := range c.State().GetMembers() {
		if m.GetWorkerId() == victimID {
			t.Logf("the closed tab's member state: %v", m.GetState()) // LEFT when its pagehide heartbeat got out
		}
	}
	if !moved {
		t.Errorf("no failover of stage 1 away from %s: %v", victimID, c.State().GetFailovers())
	}
	s := standby.status()
	if s.Role != "primary" || s.Stage != 1 || s.DecodeSteps == 0 {
		t.Errorf("the standby after the failover: %+v", s)
	}
	checkDashboardAfterFailover(t, dash)
}

// checkDashboardAfterFailover reads the dashboard's charts: the failover is
// marked on both, and tokens/s — a rate of the token counter — was above
// zero while the text streamed and reads zero once generation has stopped.
func checkDashboardAfterFailover(t *testing.T, dash *tab) {
	t.Helper()
	type point struct {
		T float64  `json:"t"`
		V *float64 `json:"v"`
	}
	var got struct {
		Markers []struct {
			Label string `json:"label"`
		} `json:"markers"`
		Points []point `json:"points"`
		Health string  `json:"health"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := dash.eval(`(() => { const c = window.tabshardDashboard.charts.tps;
			return { markers: c.markers, points: c.lines.get("tokens/s") || [], health: document.querySelector('[data-stage="1"]')?.dataset.health || "" }; })()`, &got)
		if err != nil {
			t.Fatalf("reading the dashboard: %v", err)
		}
		var peak float64
		for _, p := range got.Points {
			if p.V != nil {
				peak = max(peak, *p.V)
			}
		}
		last := got.Points[max(len(got.Points)-1, 0):]
		zero := len(last) == 1 && last[0].V != nil && *last[0].V == 0
		marked := slices.ContainsFunc(got.Markers, func(m struct {
			Label string `json:"label"`
		}) bool {
			return m.Label == "failover: stage 1"
		})
		if marked && peak > 0 && zero && got.Health == "ok" {
			dash.screenshot("dashboard-after-failover")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard after the failover: markers %v, tokens/s points %d (peak %.1f, last zero %v), stage 1 %q",
				got.Markers, len(got.Points), peak, zero, got.Health)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
