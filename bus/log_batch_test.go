//go:build !js

package bus

import (
	"context"
	"errors"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestLogPublishAll: a batch published at once replays as if published one
// by one; an invalid activation fails the call.
func TestLogPublishAll(t *testing.T) {
	srv := inProcess(t)
	log := openLog(t, srv, connect(t, srv))
	if err := log.PublishAll(context.Background(), []*tabshardv1.Activation{act("a", 1, 0, 3, 1), act("b", 1, 0, 2, 1), act("a", 1, 3, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	for session, want := range map[string]string{"a": "[0,3)@1 [3,4)@1", "b": "[0,2)@1"} {
		if got, err := replay(t, log, session, 1, 0, ReplayToEnd); err != nil || got != want {
			t.Errorf("replay %s = %q, %v; want %q", session, got, err, want)
		}
	}
	if err := log.PublishAll(context.Background(), []*tabshardv1.Activation{act("c", 1, 0, 0, 1)}); !errors.Is(err, ErrInvalidActivation) {
		t.Errorf("empty activation: %v", err)
	}
}
