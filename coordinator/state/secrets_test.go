package state_test

import (
	"bytes"
	"errors"
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
