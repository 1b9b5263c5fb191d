package coordinator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tabshard/tabshard/bus"
)

// validateNATSCluster checks the embedded bus against the Raft peers: each
// coordinator of a Raft cluster must reach the same NATS, either an
// external one (NATSURL) or the cluster its embedded servers form
// (NATSRoutes).
func (c *Config) validateNATSCluster() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case len(c.NATSRoutes) > 0 && c.NATSURL != "":
		return bad("--nats-routes joins the embedded NATS servers; with --nats (an external NATS) leave it out")
	case len(c.NATSRoutes) == 0 && c.NATSClusterSecret != "":
		return bad("a NATS cluster secret without --nats-routes")
	case len(c.RaftPeers) > 1 && c.NATSURL == "" && len(c.NATSRoutes) == 0:
		return bad("--raft-peers with the embedded NATS needs --nats-routes (the coordinators' servers form one NATS cluster) or --nats URL (an external one): separate servers would split the bus")
	case len(c.NATSRoutes) > 0 && len(c.RaftPeers) == 0:
		return bad("--nats-routes needs --raft-peers (a NATS cluster of coordinators is a Raft cluster too)")
	}
	if len(c.NATSRoutes) == 0 {
		return nil
	}
	routes, err := parsePeers(c.NATSRoutes, "nats route")
	if err != nil {
		return err
	}
	peers, err := parsePeers(c.RaftPeers, "raft peer")
	if err != nil {
		return err
	}
	if _, ok := routes[c.NodeID]; !ok {
		return bad("--nats-routes has no entry for this node %s (where its route listener binds)", c.NodeID)
	}
	if ids, want := sortedKeys(routes), sortedKeys(peers); !slices.Equal(ids, want) {
		return bad("--nats-routes names coordinators %v, --raft-peers %v: want the same", ids, want)
	}
	cfg, _ := c.natsCluster()
	if c.NATSClusterSecret == "" {
		cfg.Secret = bus.RouteSecret(make([]byte, 32)) // derived once the replicated secret is known
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// natsCluster is the embedded server's part of the NATS cluster: named
// after the tabshard cluster, this node's route listener, every node's
// route, the secret (empty when the routes' secret is to be derived from
// the replicated cluster secret: see routeSecret).
func (c *Config) natsCluster() (bus.ClusterConfig, error) {
	if len(c.NATSRoutes) == 0 {
		return bus.ClusterConfig{}, nil
	}
	routes, err := parsePeers(c.NATSRoutes, "nats route")
	if err != nil {
		return bus.ClusterConfig{}, err
	}
	cfg := bus.ClusterConfig{Name: "tabshard-" + c.Cluster, ServerName: c.NodeID, Listen: routes[c.NodeID], Secret: c.NATSClusterSecret}
	for _, id := range sortedKeys(routes) {
		cfg.Routes = append(cfg.Routes, routes[id])
	}
	return cfg, nil
}

// parsePeers parses "id=host:port" entries into a map, refusing repeated
// ids and entries without an id.
func parsePeers(list []string, what string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range list {
		id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("%w: %s %q: want id=host:port", ErrConfig, what, p)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%w: %s %s named twice", ErrConfig, what, id)
		}
		out[id] = addr
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// openLog opens the activation log. In a NATS cluster of coordinators it
// waits, as long as ctx allows, until JetStream has elected its leader and
// found a server for each replica: coordinators start at about the same
// time, and the first ones up wait for the others.
func (c *Coordinator) openLog(ctx context.Context, opts bus.LogOptions) error {
	clustered := c.nats != nil && len(c.cfg.NATSRoutes) > 0
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, openLogAttempt)
		l, err := bus.OpenLog(actx, c.nc, c.cfg.Cluster, opts)
		cancel()
		if err == nil {
			c.alog = l
			return nil
		}
		if !clustered || ctx.Err() != nil {
			return err
		}
		if attempt%5 == 0 {
			c.cfg.Logger.Warn("waiting for the NATS cluster (the other coordinators' servers) to open the activation log",
				"routes_up", c.nats.Routes(), "servers", len(c.cfg.NATSRoutes), "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("activation log: %w (last: %w)", ctx.Err(), err)
		case <-time.After(openLogRetry):
		}
	}
}

// openLogAttempt bounds one try to open the log; openLogRetry is the wait
// between tries.
const (
	openLogAttempt = 5 * time.Second
	openLogRetry   = 500 * time.Millisecond
)

// first is list's first element, "" for none.
func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// routeSecret is the secret the NATS routes authenticate with: the
// configured one, else one derived from the cluster secret that every
// coordinator holds in the replicated state (so an operator keeps no
// extra secret, and it never reaches a worker: workers get only their
// own credentials).
func (c *Config) routeSecret(clusterSecret []byte) string {
	if c.NATSClusterSecret != "" {
		return c.NATSClusterSecret
	}
	return bus.RouteSecret(clusterSecret)
}
