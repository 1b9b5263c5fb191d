package agent

import (
	"context"
	"errors"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// A worker expired before there is any plan (a busy tab that missed its
// lease while the cluster waited for workers) hears it in a plan-less
// announcement and rejoins; a plan-less announcement that does not name it
// changes nothing.
func TestExpiredBeforeAnyPlanRejoins(t *testing.T) {
	m := &member{id: "w2", loaded: -1, loading: -1}
	other := &tabshardv1.EpochAnnouncement{ExpiredWorkerIds: []string{"w1"}}
	if err := m.onEpoch(context.Background(), other, nil, nil); err != nil || m.plan != nil {
		t.Fatalf("another worker expired: %v, plan %v", err, m.plan)
	}
	mine := &tabshardv1.EpochAnnouncement{ExpiredWorkerIds: []string{"w1", "w2"}}
	if err := m.onEpoch(context.Background(), mine, nil, nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("this worker expired: %v, want ErrFenced", err)
	}
}
