package consensus

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.NodeID = "n1"
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero timings take defaults", func(c *Config) { *c = Config{NodeID: "n1"} }, ""},
		{"peers with self", func(c *Config) { c.Peers = []Peer{{"n1", "a:1"}, {"n2", "b:1"}} }, ""},
		{"no node id", func(c *Config) { c.NodeID = "" }, "NodeID"},
		{"bad bind", func(c *Config) { c.Bind = "nowhere" }, "(Bind)"},
		{"bad advertise", func(c *Config) { c.Advertise = "nowhere" }, "(Advertise)"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }, "LeaderLeaseTimeout"},
		{"election under heartbeat", func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 }, "ElectionTimeout"},
		{"tiny heartbeat", func(c *Config) { c.HeartbeatTimeout, c.LeaderLeaseTimeout = time.Millisecond, time.Millisecond }, "HeartbeatTimeout"},
		{"peers without self", func(c *Config) { c.Peers = []Peer{{"n2", "b:1"}} }, "do not include"},
		{"duplicate peer", func(c *Config) { c.Peers = []Peer{{"n1", "a:1"}, {"n1", "b:1"}} }, "twice"},
		{"peer without address", func(c *Config) { c.Peers = []Peer{{"n1", ""}} }, "lacks"},
		{"join with peers", func(c *Config) { c.Join, c.Peers = true, []Peer{{"n1", "a:1"}} }, "has no Peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestStartRefusesInvalidConfig(t *testing.T) {
	if _, err := Start(Config{}, &models{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start(Config{}): %v, want ErrInvalidConfig", err)
	}
	if _, err := Start(Config{NodeID: "n1"}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start without a state machine: %v, want ErrInvalidConfig", err)
	}
	if _, err := Start(Config{NodeID: "n1", Bind: "0.0.0.0:0"}, &models{}); err == nil || !strings.Contains(err.Error(), "Advertise") {
		t.Fatalf("Start on an unspecified address: %v, want a hint to set Advertise", err)
	}
}

// levels records the levels of the records it receives.
type levels struct{ got []slog.Level }

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.got = append(l.got, r.Level)
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

func TestRaftLogsOneLevelLower(t *testing.T) {
	h := &levels{}
	var hl hclog.Logger = newHCLogger(slog.New(h), "raft")
	hl = hl.Named("snapshots").With("k", "v")
	hl.Info("i")
	hl.Warn("w")
	hl.Error("e")
	want := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn}
	if len(h.got) != 3 || h.got[0] != want[0] || h.got[1] != want[1] || h.got[2] != want[2] {
		t.Fatalf("levels %v, want %v", h.got, want)
	}
	if hl.Name() != "raft.snapshots" {
		t.Fatalf("Name %q", hl.Name())
	}
}

func TestSnapshotEnvelope(t *testing.T) {
	index, state, err := decodeSnapshot(encodeSnapshot(42, []byte("state")))
	if err != nil || index != 42 || string(state) != "state" {
		t.Fatalf("round trip: %d %q %v", index, state, err)
	}
	for _, b := range [][]byte{nil, []byte("short"), []byte("not a tabshard snapshot")} {
		if _, _, err := decodeSnapshot(b); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("decodeSnapshot(%q): %v, want ErrBadSnapshot", b, err)
		}
	}
}
