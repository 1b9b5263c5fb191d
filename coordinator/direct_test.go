package coordinator

import (
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// A stalled step needs a new epoch only where the pipeline may have run
// past what committed: at once when tokens came past the next position,
// after stallsBeforeNewEpoch step timeouts in a row once the session has
// tokens, and never during its prompt (a long prefill is not restarted).
func TestStalledStepNeedsANewEpochOnlyWhenRunAhead(t *testing.T) {
	l := &leader{ahead: map[string]bool{}, stalls: map[string]int{}}
	prompt := &tabshardv1.Session{Id: "p", Prompt: []uint32{1, 2}}
	for i := range 2 * stallsBeforeNewEpoch {
		if l.ranAhead(prompt) {
			t.Fatalf("stall %d of a session in its prefill: new epoch", i+1)
		}
	}
	decoding := &tabshardv1.Session{Id: "d", Prompt: []uint32{1}, Generated: []uint32{5}}
	for i := range stallsBeforeNewEpoch {
		if got, want := l.ranAhead(decoding), i == stallsBeforeNewEpoch-1; got != want {
			t.Fatalf("stall %d of a decoding session: new epoch %v, want %v", i+1, got, want)
		}
	}
	if l.ranAhead(decoding) {
		t.Errorf("the count starts again after a new epoch")
	}
	l.ahead["p"] = true
	if !l.ranAhead(prompt) {
		t.Errorf("a session whose tokens came past its next position: no new epoch")
	}
}
