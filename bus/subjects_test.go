package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestSubjects(t *testing.T) {
	s, err := NewSubjects("c1")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		s.Join():                      "tabshard.c1.ctl.join",
		s.AddCoordinator():            "tabshard.c1.ctl.add-coordinator",
		s.Control():                   "tabshard.c1.ctl.>",
		s.Heartbeat("w3"):             "tabshard.c1.hb.w3",
		s.Heartbeats():                "tabshard.c1.hb.*",
		s.Epoch():                     "tabshard.c1.epoch",
		s.Token("w3"):                 "tabshard.c1.token.w3",
		s.Tokens():                    "tabshard.c1.token.*",
		s.StartSession():              "tabshard.c1.ctl.start",
		s.Activation("sess", 3, "w2"): "tabshard.c1.act.sess.3.w2",
		s.StageInputs("sess", 3):      "tabshard.c1.act.sess.3.*",
		s.Activations():               "tabshard.c1.act.>",
		s.ActivationsFor(0):           "tabshard.c1.act.*.0.*",
		s.SessionActivations("ab"):    "tabshard.c1.act.ab.>",
		s.InboxPrefix("w3"):           "tabshard.c1.inbox.w3",
		StreamName(s.Cluster):         "TABSHARD_ACT_c1",
		Sender(s.Token("w3")):         "w3",
		Sender(s.Activation("s", 0, CoordinatorProducer)): CoordinatorProducer,
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestValidateNames(t *testing.T) {
	good := []string{"c1", "prod-eu_2", "01JBX3K9", "ünïcode"}
	for _, n := range good {
		if err := ValidateCluster(n); err != nil {
			t.Errorf("ValidateCluster(%q): %v", n, err)
		}
		if err := ValidateSession(n); err != nil {
			t.Errorf("ValidateSession(%q): %v", n, err)
		}
	}
	bad := map[string]string{
		"":                       "empty",
		"a.b":                    `'.'`,
		"a*":                     `'*'`,
		"a>":                     `'>'`,
		"a b":                    `' '`,
		"a\tb":                   `'\t'`,
		"a/b":                    `'/'`,
		"a\x00":                  `'\x00'`,
		"\xff":                   `'�'`,
		strings.Repeat("x", 200): "200 bytes",
	}
	for n, want := range bad {
		err := ValidateSession(n)
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateSession(%q) = %v, want ErrInvalidName mentioning %s", n, err, want)
		}
	}
	if _, err := NewSubjects("a.b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewSubjects(a.b) = %v", err)
	}
}
