package browser

import (
	"strings"
	"testing"
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
}
