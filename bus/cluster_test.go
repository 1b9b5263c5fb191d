//go:build !js

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

const testSecret = "0123456789abcdef-route-secret"

// freeAddrs reserves n loopback addresses for route listeners.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are chosen, so none repeats
		out = append(out, l.Addr().String())
	}
	return out
}

// startCluster starts n routed servers, each with the secret of secrets[i]
// (testSecret when secrets is short), all at once, as coordinators start.
func startCluster(t testing.TB, n int, logs []*syncBuffer, secrets ...string) []*Server {
	t.Helper()
	routes := freeAddrs(t, n)
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		secret := testSecret
		if i < len(secrets) {
			secret = secrets[i]
		}
		cfg := ServerConfig{Port: 0, WebSocketPort: 0, Cluster: ClusterConfig{
			Name: "test", ServerName: fmt.Sprintf("c%d", i+1), Listen: routes[i], Routes: routes, Secret: secret,
		}}
		if logs != nil {
			cfg.Logger = slog.New(slog.NewTextHandler(logs[i], &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		wg.Go(func() { servers[i], errs[i] = StartServer(trusted(cfg)) })
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("server c%d: %v", i+1, errs[i])
		}
		t.Cleanup(s.Shutdown)
	}
	return servers
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openClusterLog opens the log as a coordinator does, retrying while the
// cluster's JetStream elects its leaders and places the replicas.
func openClusterLog(t testing.TB, nc *nats.Conn, opts LogOptions) *ActivationLog {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, err := OpenLog(ctx, nc, "sim", opts)
		cancel()
		if err == nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("OpenLog: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterConfigErrors(t *testing.T) {
	routes := []string{"127.0.0.1:16221", "127.0.0.1:16222", "127.0.0.1:16223"}
	ok := ClusterConfig{Name: "x", ServerName: "c1", Listen: routes[0], Routes: routes, Secret: testSecret}
	for name, edit := range map[string]func(*ClusterConfig){
		"no name":          func(c *ClusterConfig) { c.Name = "" },
		"no server name":   func(c *ClusterConfig) { c.ServerName = "" },
		"two servers":      func(c *ClusterConfig) { c.Routes = routes[:2] },
		"short secret":     func(c *ClusterConfig) { c.Secret = "short" },
		"no secret":        func(c *ClusterConfig) { c.Secret = "" },
		"bad listen":       func(c *ClusterConfig) { c.Listen = "nowhere" },
		"bad route port":   func(c *ClusterConfig) { c.Routes = append(routes[:2:2], "127.0.0.1:99999") },
		"route twice":      func(c *ClusterConfig) { c.Routes = append(routes[:2:2], routes[0]) },
		"listen no routes": func(c *ClusterConfig) { c.Routes = nil },
	} {
		cfg := ok
		edit(&cfg)
		srv, err := StartServer(trusted(ServerConfig{Port: 0, WebSocketPort: -1, Cluster: cfg}))
		if err == nil {
			srv.Shutdown()
			t.Errorf("%s: StartServer succeeded", name)
			continue
		}
		if !errors.Is(err, ErrClusterConfig) {
			t.Errorf("%s: error %v does not wrap ErrClusterConfig", name, err)
		}
	}
	if _, err := StartServer(trusted(ServerConfig{DontListen: true, Cluster: ok})); !errors.Is(err, ErrClusterConfig) {
		t.Errorf("DontListen with routes: %v", err)
	}
}

// TestClusterSurvivesAnyServer: three routed servers keep the activation
// log in three copies; whichever server goes away, the first started
// included, a client connected with every server's URL carries on at
// another, and the log still replays every activation.
func TestClusterSurvivesAnyServer(t *testing.T) {
	for victim := range 3 {
		t.Run(fmt.Sprintf("c%d", victim+1), func(t *testing.T) {
			servers := startCluster(t, 3, nil)
			for _, s := range servers {
				waitFor(t, 10*time.Second, "routes not up", func() bool { return s.Routes() == 2 })
			}
			if got := servers[0].LogOptions().Replicas; got != LogReplicas {
				t.Fatalf("LogOptions().Replicas = %d, want %d", got, LogReplicas)
			}
			var urls []string
			waitFor(t, 5*time.Second, "client URLs not gossiped", func() bool {
				urls = servers[victim].ClientURLs()
				return len(urls) == 3
			})
			if urls[0] != servers[victim].ClientURL() {
				t.Errorf("ClientURLs() = %v: own URL %s not first", urls, servers[victim].ClientURL())
			}
			if ws := servers[victim].WebSocketURLs(); len(ws) != 3 || ws[0] != servers[victim].WebSocketURL() {
				t.Errorf("WebSocketURLs() = %v", ws)
			}
			// The client's own server is the victim: it must fail over.
			nc := dial(t, strings.Join(urls, ","), nats.DontRandomize())
			log := openClusterLog(t, nc, servers[0].LogOptions())
			info, err := log.stream.Info(testContext(t))
			if err != nil || info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
				t.Fatalf("stream info: %+v, %v", info, err)
			}
			publishAll(t, log, act("s1", 0, 0, 5, 1), act("s1", 0, 5, 1, 1))

			servers[victim].Shutdown()
			waitFor(t, 10*time.Second, "client did not reconnect", func() bool {
				return nc.IsConnected() && nc.ConnectedUrl() != urls[0]
			})
			publishEventually(t, log, act("s1", 0, 6, 1, 1))
			got, err := replayEventually(t, log, "s1", 0)
			if want := "[0,5)@1 [5,6)@1 [6,7)@1"; err != nil || got != want {
				t.Errorf("replay after losing c%d = %q, %v; want %q", victim+1, got, err, want)
			}
		})
	}
}

// publishEventually publishes a, retrying while the stream elects a new
// leader.
func publishEventually(t *testing.T, log *ActivationLog, a *tabshardv1.Activation) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := log.Publish(ctx, a)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", span(a), err)
		}
		t.Logf("publish %s: %v; retrying", span(a), err)
		time.Sleep(100 * time.Millisecond)
	}
}

// replayEventually replays a stage's whole log, retrying while the
// cluster's JetStream has not noticed that the server a replay consumer
// was placed on went away.
func replayEventually(t *testing.T, log *ActivationLog, session string, stage uint32) (string, error) {
	t.Helper()
	start := time.Now()
	for {
		var got []string
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := log.Replay(ctx, session, stage, 0, ReplayToEnd, func(a *tabshardv1.Activation) error {
			got = append(got, span(a))
			return nil
		})
		cancel()
		if err == nil || time.Since(start) > 30*time.Second {
			t.Logf("replayed after %s", time.Since(start).Round(time.Millisecond))
			return strings.Join(got, " "), err
		}
		t.Logf("replay: %v; retrying", err)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterRefusesWrongSecret: a server whose route secret differs is
// refused by the others and stays out of the cluster.
func TestClusterRefusesWrongSecret(t *testing.T) {
	logs := []*syncBuffer{{}, {}, {}}
	servers := startCluster(t, 3, logs, testSecret, testSecret, "another-secret-of-enough-length")
	waitFor(t, 10*time.Second, "the two servers with the secret did not route", func() bool {
		return servers[0].Routes() == 1 && servers[1].Routes() == 1
	})
	waitFor(t, 10*time.Second, "no authorization error logged", func() bool {
		return strings.Contains(logs[0].String()+logs[1].String(), "Authorization Violation")
	})
	if n := servers[2].Routes(); n != 0 {
		t.Errorf("the server with the wrong secret has %d routes", n)
	}
}

func TestRouteSecret(t *testing.T) {
	a, b := RouteSecret([]byte("cluster secret one")), RouteSecret([]byte("cluster secret two"))
	if a == b || a != RouteSecret([]byte("cluster secret one")) || len(a) < MinClusterSecret {
		t.Errorf("RouteSecret: %q, %q", a, b)
	}
}
