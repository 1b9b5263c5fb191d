package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// joinTokenFile is where a coordinator writes the cluster's join token in
// its data directory (mode 0600), for the operator to hand to workers
// (tabshard worker --join-token-file).
const joinTokenFile = "join-token"

// awaitSecrets waits until the replicated state holds the cluster's secrets
// (cluster secret and join token). While this node leads and the state has
// none, it proposes them once: the configured join token (or, from a data
// directory of an older version, the token kept there) or a random one,
// and a random secret. Raft orders proposals, and the state machine keeps
// the first, so every coordinator ends up with the same ones.
func (c *Coordinator) awaitSecrets(ctx context.Context) error {
	proposal, err := c.proposedSecrets()
	if err != nil {
		return err
	}
	logged := false
	for {
		changed := c.machine.Changed()
		if sec := c.machine.State().GetSecrets(); len(sec.GetClusterSecret()) > 0 {
			return c.adoptSecrets(sec)
		}
		if c.node.IsLeader() {
			err := c.node.Apply(ctx, &tabshardv1.Command{UnixMs: c.cfg.Clock.Now().UnixMilli(), Change: &tabshardv1.Command_SetSecrets{SetSecrets: &tabshardv1.SetSecrets{Secrets: proposal}}})
			if err != nil && !errors.Is(err, state.ErrDuplicate) {
				c.cfg.Logger.Debug("proposing the cluster secrets", "err", err)
			}
		} else if !logged {
			c.cfg.Logger.Info("waiting for the Raft leader to set the cluster's secrets", "node", c.cfg.NodeID)
			logged = true
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for the cluster's secrets (is a Raft leader elected?): %w", ctx.Err())
		}
	}
}

// proposedSecrets are what this node proposes if it leads first.
func (c *Coordinator) proposedSecrets() (*tabshardv1.ClusterSecrets, error) {
	secret := make([]byte, state.SecretBytes)
	rand.Read(secret)
	token := c.cfg.JoinToken
	if token == "" {
		token = c.keptToken()
	}
	if token == "" {
		raw := make([]byte, 16)
		rand.Read(raw)
		token = hex.EncodeToString(raw)
	}
	return &tabshardv1.ClusterSecrets{ClusterSecret: secret, JoinToken: token}, nil
}

// keptToken is the token kept in the data directory, "" for none.
func (c *Coordinator) keptToken() string {
	if c.cfg.DataDir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(c.cfg.DataDir, joinTokenFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// adoptSecrets takes the replicated secrets as this coordinator's; a
// configured join token that differs from them is an error, not silently
// replaced: workers started with it would be refused.
func (c *Coordinator) adoptSecrets(sec *tabshardv1.ClusterSecrets) error {
	if c.cfg.JoinToken != "" && c.cfg.JoinToken != sec.GetJoinToken() {
		return fmt.Errorf("%w: --join-token differs from the cluster's join token (set by its first leader); start this coordinator with the same token or none", ErrConfig)
	}
	c.secrets = sec
	if c.cfg.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.cfg.DataDir, joinTokenFile), []byte(sec.GetJoinToken()+"\n"), 0o600)
}

// checkJoinToken compares token with the cluster's in constant time.
func (c *Coordinator) checkJoinToken(token string) bool {
	want := c.secrets.GetJoinToken()
	return want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}
