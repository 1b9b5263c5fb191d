package main

import (
	"flag"
	"os"
	"strings"

	"github.com/tabshard/tabshard/coordinator"
)

// natsClusterSecretEnv holds the route secret when no file is given.
const natsClusterSecretEnv = "TABSHARD_NATS_CLUSTER_SECRET"

// natsClusterFlags are up's flags for the NATS cluster the coordinators'
// embedded servers form.
type natsClusterFlags struct {
	routes     string
	secretFile string
}

func (f *natsClusterFlags) register(fs *flag.FlagSet, cfg *coordinator.Config) {
	fs.StringVar(&cfg.NATSHost, "nats-host", cfg.NATSHost, "address the embedded NATS listeners (TCP, WebSocket) bind; 0.0.0.0 for workers and tabs on other machines")
	fs.StringVar(&f.routes, "nats-routes", "", "with --raft-peers: every coordinator's NATS route listener, comma-separated id=host:port with the ids of --raft-peers, this node included (it listens there); the embedded servers form one NATS cluster that survives any one coordinator")
	fs.StringVar(&f.secretFile, "nats-cluster-secret-file", "", "file holding the secret the NATS routes authenticate with, the same on every coordinator, at least 16 characters (default: $"+natsClusterSecretEnv+", else derived from the cluster secret the coordinators replicate through Raft)")
}

// apply puts the parsed flags into cfg; the coordinator validates them.
func (f *natsClusterFlags) apply(cfg *coordinator.Config) error {
	if f.routes == "" {
		if f.secretFile != "" {
			return usageErr("--nats-cluster-secret-file needs --nats-routes")
		}
		return nil
	}
	cfg.NATSRoutes = strings.Split(f.routes, ",")
	if f.secretFile == "" {
		cfg.NATSClusterSecret = strings.TrimSpace(os.Getenv(natsClusterSecretEnv)) // "": derived
		return nil
	}
	secret, err := readSecretFile(f.secretFile, "--nats-cluster-secret-file")
	cfg.NATSClusterSecret = secret
	return err
}
