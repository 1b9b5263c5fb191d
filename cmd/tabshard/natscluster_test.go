package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpNATSClusterFlagErrors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	peers := "--raft-peers=c1=127.0.0.1:17001,c2=127.0.0.1:17002,c3=127.0.0.1:17003"
	routes := "--nats-routes=c1=127.0.0.1:16001,c2=127.0.0.1:16002,c3=127.0.0.1:16003"
	t.Setenv(natsClusterSecretEnv, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{peers}, "--nats-routes"},
		{[]string{peers, routes, "--nats-cluster-secret-file", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{peers, routes, "--nats-cluster-secret-file", secret}, "secret has 5 characters"},
		{[]string{"--nats-cluster-secret-file", secret}, "needs --nats-routes"},
	} {
		args := append([]string{"up", "--data-dir", dir, "--local-workers", "0"}, tc.args...)
		_, errOut, code := tabshard(t, args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want it to say %q", tc.args, code, errOut, tc.want)
		}
	}
}
