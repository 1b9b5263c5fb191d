package browser

import (
	"testing"
	"time"
)

// TestThreeTabsSplitByDefault: three tabs opened against a coordinator with
// no local workers and default flags (no --stages, no --min-workers) share
// the model: the first plan waits a moment for the tabs joining and makes a
// stage of each, and the text is llama2.c's.
func TestThreeTabsSplitByDefault(t *testing.T) {
	b := startBrowser(t)
	c := startCoordinator(t, clusterOptions{})
	openWorkers(t, b, c, 3, onCPU)
	deadline := time.Now().Add(30 * time.Second)
	for c.State().GetPlan() == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	plan := c.State().GetPlan()
	stages, standbys := len(plan.GetStages()), 0
	for _, s := range plan.GetStages() {
		standbys += len(s.GetStandbyDeviceIds())
	}
	t.Logf("plan: %d stages, %d standbys, unused %v", stages, standbys, plan.GetUnusedDeviceIds())
	if stages+standbys != 3 || stages < 2 || len(plan.GetUnusedDeviceIds()) != 0 {
		t.Fatalf("three tabs: %d stages and %d standbys (unused %v), want three stages or two and a standby",
			stages, standbys, plan.GetUnusedDeviceIds())
	}
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Errorf("text\n got %q\nwant %q", got, want)
	}
}
