package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func setSecrets(secret []byte, token string) *tabshardv1.Command {
	return &tabshardv1.Command{Change: &tabshardv1.Command_SetSecrets{SetSecrets: &tabshardv1.SetSecrets{
		Secrets: &tabshardv1.ClusterSecrets{ClusterSecret: secret, JoinToken: token}}}}
}

// The first secrets set win: a second leader's proposal (three nodes that
// each made their own) changes nothing, so every node holds the same.
func TestSecretsFirstWins(t *testing.T) {
	m := state.NewMachine()
	for _, bad := range []*tabshardv1.Command{setSecrets(make([]byte, 16), "t"), setSecrets(make([]byte, 32), "")} {
		if err := m.Apply(bad); !errors.Is(err, state.ErrBadCommand) {
			t.Errorf("bad secrets: %v", err)
		}
	}
	first := bytes.Repeat([]byte{1}, state.SecretBytes)
	if err := m.Apply(setSecrets(first, "one")); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(setSecrets(bytes.Repeat([]byte{2}, state.SecretBytes), "two")); !errors.Is(err, state.ErrDuplicate) {
		t.Errorf("second secrets: %v, want ErrDuplicate", err)
	}
	sec := m.State().GetSecrets()
	if !bytes.Equal(sec.GetClusterSecret(), first) || sec.GetJoinToken() != "one" {
		t.Errorf("secrets %v", sec)
	}
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := state.NewMachine()
	if err := r.Restore(snap); err != nil || r.State().GetSecrets().GetJoinToken() != "one" {
		t.Errorf("restored secrets %v, %v", r.State().GetSecrets(), err)
	}
}

func TestAdmitKeepsUserKey(t *testing.T) {
	m := state.NewMachine()
	if err := m.Apply(&tabshardv1.Command{Change: &tabshardv1.Command_Admit{Admit: &tabshardv1.AdmitWorker{WorkerId: "w1", UserNkey: "UABC"}}}); err != nil {
		t.Fatal(err)
	}
	if k := state.Member(m.State(), "w1").GetUserNkey(); k != "UABC" {
		t.Errorf("user key %q", k)
	}
}

// Each plan that changes a stage's primary records it, so that a replay
// can tell who produced a stage's inputs in any epoch.
func TestPrimaryChangesRecorded(t *testing.T) {
	m := state.NewMachine()
	for range 4 {
		admit(m, t)
	}
	for i, p := range []*tabshardv1.Plan{plan([]string{"w1", "w3"}, []string{"w2"}), plan([]string{"w1"}, []string{"w2"}), plan([]string{"w3"}, []string{"w2", "w4"})} {
		if err := m.Apply(commit(p, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, c := range m.State().GetPrimaries() {
		got = append(got, fmt.Sprintf("%d:%d=%s", c.GetEpoch(), c.GetStage(), c.GetWorkerId()))
	}
	if want := "1:0=w1 1:1=w2 3:0=w3"; strings.Join(got, " ") != want {
		t.Errorf("primary changes %q, want %q", strings.Join(got, " "), want)
	}
}
