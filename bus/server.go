//go:build !js

package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultMaxPayload is the largest message the embedded server accepts by
// default: a prefill activation reaches about 8 MiB.
const DefaultMaxPayload = 8 << 20

// startTimeout bounds how long StartServer waits for the listeners.
const startTimeout = 10 * time.Second

// ServerConfig configures the embedded NATS server. Trust is required; with
// only Trust set, it listens on random loopback ports for TCP and WebSocket
// and keeps JetStream in memory.
type ServerConfig struct {
	// Trust is the operator and accounts the server trusts (operator mode):
	// every client must present a user JWT one of its accounts signed.
	// Anonymous connections are refused.
	Trust *Trust
	// Host is the address both listeners bind; "" means 127.0.0.1. Use
	// "0.0.0.0" to accept workers and tabs from other machines.
	Host string
	// Port is the TCP port for native workers: -1 none, 0 a random port.
	Port int
	// WebSocketPort is the WebSocket port for tabs (plain ws://, no TLS):
	// -1 none, 0 a random port.
	WebSocketPort int
	// AllowedOrigins lists the page origins (scheme://host:port) allowed to
	// open a WebSocket; empty allows none but the WebSocket listener's own
	// (which serves no pages). Clients that send no Origin (not browsers)
	// are not limited by it; they still need credentials.
	AllowedOrigins []string
	// JetStreamDir keeps the JetStream data (the activation log) across
	// restarts; "" keeps it in memory only (see Server.LogOptions).
	JetStreamDir string
	// DontListen opens no listener at all, not even WebSocket: clients
	// connect in-process through Server.Connect. For tests.
	DontListen bool
	// Logger receives the server's own logs at low levels; nil discards.
	Logger *slog.Logger
	// MaxPayload is the largest message in bytes; 0 means DefaultMaxPayload.
	MaxPayload int32
	// Cluster joins the server to the other coordinators' servers (routes,
	// replicated JetStream; see cluster.go); the zero value runs alone.
	Cluster ClusterConfig
}

// Server is an embedded NATS server with JetStream enabled.
type Server struct {
	ns        *server.Server
	replicas  int
	memOnly   bool
	webSocket bool
	tempDir   string // removed on Shutdown when JetStream runs in memory
}

// StartServer starts an embedded server and waits until it accepts clients.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts, tempDir, err := cfg.options()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		removeTemp(tempDir)
		return nil, fmt.Errorf("bus: configure nats server: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	logs := newSlogAdapter(log)
	ns.SetLoggerV2(logs, log.Enabled(context.Background(), levelServerDebug), false, false)
	ns.Start() // does not block; returning before it would leave it logging
	if err := waitReady(ns, logs); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		removeTemp(tempDir)
		return nil, err
	}
	return &Server{ns: ns, replicas: cfg.Cluster.Replicas(), memOnly: cfg.JetStreamDir == "", webSocket: opts.Websocket.Port != 0, tempDir: tempDir}, nil
}

// waitReady waits until ns accepts clients, or fails as soon as it logs an
// error (a port in use) or after startTimeout.
func waitReady(ns *server.Server, logs slogAdapter) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		if msg := logs.LastError(); msg != "" {
			return fmt.Errorf("bus: nats server failed to start: %s", msg)
		}
	}
	return fmt.Errorf("bus: nats server not ready after %s", startTimeout)
}

// options translates cfg into nats-server options. JetStream always needs a
// store directory, even for memory streams: without JetStreamDir it gets a
// private temporary one.
func (cfg ServerConfig) options() (*server.Options, string, error) {
	if err := cfg.validate(); err != nil {
		return nil, "", err
	}
	storeDir, tempDir := cfg.JetStreamDir, ""
	if storeDir == "" {
		d, err := os.MkdirTemp("", "tabshard-nats-")
		if err != nil {
			return nil, "", fmt.Errorf("bus: jetstream temp dir: %w", err)
		}
		storeDir, tempDir = d, d
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName:             "tabshard",
		Host:                   host,
		Port:                   natsPort(cfg.Port),
		DontListen:             cfg.DontListen || cfg.Port < 0,
		MaxPayload:             cfg.maxPayload(),
		JetStream:              true,
		StoreDir:               storeDir,
		NoSigs:                 true,
		DisableJetStreamBanner: true,
	}
	if err := cfg.Trust.configure(opts); err != nil {
		removeTemp(tempDir)
		return nil, "", err
	}
	if !cfg.DontListen && cfg.WebSocketPort >= 0 {
		opts.Websocket = server.WebsocketOpts{
			Host:           host,
			Port:           natsPort(cfg.WebSocketPort),
			NoTLS:          true,
			AllowedOrigins: cfg.AllowedOrigins,
			SameOrigin:     len(cfg.AllowedOrigins) == 0,
		}
	}
	cfg.Cluster.apply(opts)
	return opts, tempDir, nil
}

// configure puts the operator mode trust chain into opts: the trusted
// operator, and a memory account resolver holding the accounts' JWTs.
func (t *Trust) configure(opts *server.Options) error {
	resolver := &server.MemAccResolver{}
	for pub, accountJWT := range t.Accounts() {
		if err := resolver.Store(pub, accountJWT); err != nil {
			return fmt.Errorf("bus: account resolver: %w", err)
		}
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{t.operatorJC}
	opts.AccountResolver = resolver
	opts.SystemAccount = t.SystemAccount()
	return nil
}

func (cfg ServerConfig) validate() error {
	if cfg.Trust == nil {
		return fmt.Errorf("%w: the server needs a Trust (no anonymous bus)", ErrInvalidCredentials)
	}
	for _, o := range cfg.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("bus: allowed origin %q: want scheme://host[:port]", o)
		}
	}
	if cfg.Port < -1 || cfg.Port > 65535 {
		return fmt.Errorf("bus: server Port %d: want -1 (none), 0 (random) or a port", cfg.Port)
	}
	if cfg.WebSocketPort < -1 || cfg.WebSocketPort > 65535 {
		return fmt.Errorf("bus: server WebSocketPort %d: want -1 (none), 0 (random) or a port", cfg.WebSocketPort)
	}
	if cfg.MaxPayload < 0 {
		return fmt.Errorf("bus: server MaxPayload %d is negative", cfg.MaxPayload)
	}
	if cfg.Cluster.Enabled() && cfg.DontListen {
		return fmt.Errorf("%w: DontListen leaves no route listener", ErrClusterConfig)
	}
	return cfg.Cluster.Validate()
}

func (cfg ServerConfig) maxPayload() int32 {
	if cfg.MaxPayload == 0 {
		return DefaultMaxPayload
	}
	return cfg.MaxPayload
}

// natsPort maps our port convention (0 random) to nats-server's (-1 random).
func natsPort(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

// ClientURL is the nats:// URL of the TCP listener, "" when there is none.
func (s *Server) ClientURL() string {
	addr, ok := s.ns.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	return "nats://" + dialHostPort(addr.IP.String(), addr.Port)
}

// WebSocketURL is the ws:// URL of the WebSocket listener, "" when there is
// none.
func (s *Server) WebSocketURL() string {
	if !s.webSocket {
		return ""
	}
	u, err := url.Parse(s.ns.WebsocketURL())
	if err != nil {
		return ""
	}
	port, _ := strconv.Atoi(u.Port())
	return "ws://" + dialHostPort(u.Hostname(), port)
}

// dialHostPort replaces a wildcard bind address by loopback, so the URL can
// be dialled on this machine.
func dialHostPort(host string, port int) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// InProcess lets nats.go connect without a socket: pass it to
// nats.InProcessServer.
func (s *Server) InProcess() nats.InProcessConnProvider { return s.ns }

// Connect opens an in-process client connection named name, with the
// options of ClientOptions and then opts, which must carry credentials
// (Credentials.Option).
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.InProcessServer(s.ns), nats.Name(name)}
	return Connect("", append(base, opts...)...)
}

// LogOptions are the activation log's defaults for this server: memory
// storage when it has no JetStreamDir, file storage otherwise; one copy on
// a standalone server, LogReplicas in a cluster.
func (s *Server) LogOptions() LogOptions {
	return LogOptions{Memory: s.memOnly, Replicas: s.replicas}
}

// DisconnectClient closes the server side of the connection with the given
// client ID (see nats.Conn.GetClientID), as a network fault would. For tests.
func (s *Server) DisconnectClient(id uint64) error {
	return s.ns.DisconnectClientByID(id)
}

// Shutdown stops the server, waits until it has stopped and removes its
// temporary JetStream directory, if it had one.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	removeTemp(s.tempDir)
}

func removeTemp(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
