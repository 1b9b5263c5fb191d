package coordinator

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/bus"
)

const testRouteSecret = "a-route-secret-of-enough-length"

// clusterConfig is c1 of a valid three-coordinator cluster with the
// embedded bus.
func clusterConfig() Config {
	cfg := DefaultConfig()
	cfg.RaftPeers = []string{"c1=127.0.0.1:7001", "c2=127.0.0.1:7002", "c3=127.0.0.1:7003"}
	cfg.NATSRoutes = []string{"c1=127.0.0.1:6221", "c2=127.0.0.1:6222", "c3=127.0.0.1:6223"}
	cfg.NATSClusterSecret = testRouteSecret
	return cfg
}

func TestNATSClusterConfig(t *testing.T) {
	cfg := clusterConfig()
	cfg.NodeID = "c2"
	cfg.NATSRoutes = slices.Clone(cfg.NATSRoutes)
	slices.Reverse(cfg.NATSRoutes)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	nc, err := cfg.natsCluster()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:6221", "127.0.0.1:6222", "127.0.0.1:6223"}
	if nc.Name != "tabshard-default" || nc.ServerName != "c2" || nc.Listen != "127.0.0.1:6222" || !slices.Equal(nc.Routes, want) ||
		nc.Secret != testRouteSecret || nc.Replicas() != 3 {
		t.Errorf("natsCluster() = %+v", nc)
	}
}

func TestNATSClusterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"raft peers on separate buses", func(c *Config) { c.NATSRoutes, c.NATSClusterSecret = nil, "" }, "split the bus"},
		{"routes with an external nats", func(c *Config) { c.NATSURL = "nats://127.0.0.1:4222" }, "external NATS"},
		{"secret without routes", func(c *Config) { c.NATSRoutes = nil; c.NATSURL = "nats://x:4222" }, "without --nats-routes"},
		{"routes without raft peers", func(c *Config) { c.RaftPeers = nil }, "needs --raft-peers"},
		{"no entry for this node", func(c *Config) { c.NodeID = "c4" }, "no entry for this node c4"},
		{"other ids than raft", func(c *Config) { c.NATSRoutes = []string{"c1=h:1", "c2=h:2", "x=h:3"} }, "want the same"},
		{"route without id", func(c *Config) { c.NATSRoutes = []string{"c1=h:1", "c2=h:2", "h:3"} }, "want id=host:port"},
		{"id twice", func(c *Config) { c.NATSRoutes = []string{"c1=h:1", "c2=h:2", "c2=h:3"} }, "named twice"},
		{"bad port", func(c *Config) { c.NATSRoutes = []string{"c1=h:1", "c2=h:2", "c3=h:port"} }, "route"},
		{"short secret", func(c *Config) { c.NATSClusterSecret = "short" }, "secret"},
	} {
		cfg := clusterConfig()
		tc.edit(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want ErrConfig saying %q", tc.name, err, tc.want)
		}
	}
	// One node, or Raft peers on an external NATS, need no routes; routes
	// need no secret of their own (it is derived from the replicated one).
	for _, cfg := range []Config{DefaultConfig(), func() Config {
		c := clusterConfig()
		c.NATSClusterSecret = ""
		return c
	}(), func() Config {
		c := clusterConfig()
		c.NATSRoutes, c.NATSClusterSecret, c.NATSURL = nil, "", "nats://127.0.0.1:4222"
		c.NATSAccountSeed = []byte("SA...") // its account's seed (parsed at start)
		return c
	}()} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(): %v", err)
		}
	}
}

func TestRouteSecretDerivedUnlessGiven(t *testing.T) {
	cfg := clusterConfig()
	if got := cfg.routeSecret([]byte("replicated")); got != testRouteSecret {
		t.Errorf("a configured route secret: got %q, want %q", got, testRouteSecret)
	}
	cfg.NATSClusterSecret = ""
	a, b := cfg.routeSecret([]byte("replicated one")), cfg.routeSecret([]byte("replicated two"))
	if a != bus.RouteSecret([]byte("replicated one")) || a == b {
		t.Errorf("derived route secrets %q and %q: want bus.RouteSecret of each cluster secret", a, b)
	}
}
