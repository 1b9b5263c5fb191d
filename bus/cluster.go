//go:build !js

package bus

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrClusterConfig is an embedded server's NATS cluster configured wrongly.
var ErrClusterConfig = errors.New("bus: invalid nats cluster configuration")

// MinClusterServers is the smallest NATS cluster an embedded server joins:
// JetStream, like Raft, needs a majority, so only three servers or more
// survive the loss of one.
const MinClusterServers = 3

// MinClusterSecret is the shortest route secret accepted.
const MinClusterSecret = 16

// LogReplicas is how many copies of the activation log a cluster keeps:
// every server's up to three (JetStream's usual R3), which survives any one
// server.
const LogReplicas = 3

// routeUser is the user name every route authenticates as; the secret is
// its password.
const routeUser = "tabshard-route"

// routeAuthTimeout bounds, in seconds, how long a route may take to
// authenticate.
const routeAuthTimeout = 2

// ClusterConfig joins the embedded server to the other coordinators'
// embedded servers: one NATS cluster (routes) whose JetStream replicates the
// activation log, so that the bus outlives any one coordinator. The zero
// value is a standalone server.
type ClusterConfig struct {
	// Name is the NATS cluster's name, the same on every server.
	Name string
	// ServerName names this server, unique in the cluster (the
	// coordinator's node id).
	ServerName string
	// Listen is the host:port this server's route listener binds.
	Listen string
	// Routes are the route addresses (host:port) of every server of the
	// cluster, this one included: the same list on every server. JetStream
	// expects as many servers as routes before it elects its first leader.
	Routes []string
	// Secret authenticates the routes: a server presents it when it
	// connects to another and refuses a route that does not. Every server
	// has the same one; it must never reach a worker (a route sees every
	// account's traffic).
	Secret string
}

// routeSecretLabel separates the route secret from other keys derived from
// the same cluster secret.
const routeSecretLabel = "tabshard nats route secret v1"

// RouteSecret derives ClusterConfig.Secret from a cluster secret that
// every coordinator holds (such as one kept in the replicated state), so
// that the routes need no secret of their own. Anyone who knows
// clusterSecret can compute it: never derive it from the join token, which
// every worker holds.
func RouteSecret(clusterSecret []byte) string {
	mac := hmac.New(sha256.New, clusterSecret)
	mac.Write([]byte(routeSecretLabel))
	return hex.EncodeToString(mac.Sum(nil))
}

// Enabled reports whether the server joins a cluster.
func (c ClusterConfig) Enabled() bool { return len(c.Routes) > 0 }

// Servers is how many servers the cluster has (0 standalone).
func (c ClusterConfig) Servers() int { return len(c.Routes) }

// Replicas is the activation log's replication factor: one standalone,
// LogReplicas (or every server, if fewer) in a cluster.
func (c ClusterConfig) Replicas() int {
	if !c.Enabled() {
		return 1
	}
	return min(LogReplicas, c.Servers())
}

// Validate checks the configuration; StartServer calls it.
func (c ClusterConfig) Validate() error {
	if !c.Enabled() {
		if c.Listen != "" {
			return fmt.Errorf("%w: a route listener (%s) without routes", ErrClusterConfig, c.Listen)
		}
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrClusterConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Name == "" || c.ServerName == "":
		return bad("a cluster needs a name (%q) and a server name (%q)", c.Name, c.ServerName)
	case c.Servers() < MinClusterServers:
		return bad("%d routes: a cluster that survives one server needs at least %d", c.Servers(), MinClusterServers)
	case len(c.Secret) < MinClusterSecret:
		return bad("the route secret has %d characters, want at least %d", len(c.Secret), MinClusterSecret)
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return bad("route listener: %v", err)
	}
	for _, r := range c.Routes {
		if _, _, err := splitHostPort(r); err != nil {
			return bad("route %q: %v", r, err)
		}
	}
	if dup := duplicate(c.Routes); dup != "" {
		return bad("route %s listed twice", dup)
	}
	return nil
}

// splitHostPort parses host:port with a port in 1..65535.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1 to 65535", p)
	}
	return host, port, nil
}

func duplicate(list []string) string {
	sorted := slices.Sorted(slices.Values(list))
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return sorted[i]
		}
	}
	return ""
}

// apply sets the cluster's options on opts: server name, route listener
// with its credentials, and the routes to solicit, each carrying the
// credentials the others check. A route to this server itself is detected
// and dropped by the server.
func (c ClusterConfig) apply(opts *server.Options) {
	if !c.Enabled() {
		return
	}
	host, port, _ := splitHostPort(c.Listen)
	opts.ServerName = c.ServerName
	opts.Cluster = server.ClusterOpts{
		Name:        c.Name,
		Host:        host,
		Port:        port,
		Username:    routeUser,
		Password:    c.Secret,
		AuthTimeout: routeAuthTimeout,
	}
	for _, r := range c.Routes {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(routeUser, c.Secret), Host: r})
	}
}

// Routes is how many other servers this one has routes to now.
func (s *Server) Routes() int { return s.ns.NumRemotes() }

// ClientURLs are the nats:// URLs of every server of the cluster that this
// one knows of (its own first; only its own standalone), for clients that
// fail over to another server when theirs goes away. Servers learn each
// other's client addresses over the routes.
func (s *Server) ClientURLs() []string {
	own := s.ClientURL()
	if own == "" {
		return nil
	}
	v, err := s.ns.Varz(nil)
	if err != nil {
		return []string{own}
	}
	return withOthers(own, "nats://", v.ClientConnectURLs)
}

// WebSocketURLs are the ws:// URLs of every server's WebSocket listener
// that this one knows of, its own first.
func (s *Server) WebSocketURLs() []string {
	own := s.WebSocketURL()
	if own == "" {
		return nil
	}
	v, err := s.ns.Varz(nil)
	if err != nil {
		return []string{own}
	}
	return withOthers(own, "ws://", v.WSConnectURLs)
}

// withOthers is own followed by the host:port addresses in others (given a
// scheme), without repeats.
func withOthers(own, scheme string, others []string) []string {
	out := []string{own}
	for _, hp := range others {
		if u := scheme + hp; !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}
