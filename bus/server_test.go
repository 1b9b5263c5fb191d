//go:build !js

package bus

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestServerInProcess(t *testing.T) {
	srv := inProcess(t)
	if u := srv.ClientURL(); u != "" {
		t.Errorf("ClientURL = %q with DontListen", u)
	}
	if u := srv.WebSocketURL(); u != "" {
		t.Errorf("WebSocketURL = %q with DontListen", u)
	}
	if !srv.LogOptions().Memory {
		t.Error("LogOptions().Memory = false without JetStreamDir")
	}
	a, b := connect(t, srv), connect(t, srv)
	roundTrip(t, a, b)
}

func TestServerTCPAndWebSocket(t *testing.T) {
	srv := startServer(t, ServerConfig{Port: 0, WebSocketPort: 0})
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", srv.ClientURL())
	}
	if !strings.HasPrefix(srv.WebSocketURL(), "ws://127.0.0.1:") {
		t.Fatalf("WebSocketURL = %q", srv.WebSocketURL())
	}
	tcp := dial(t, srv.ClientURL())
	ws := dial(t, srv.WebSocketURL())
	roundTrip(t, tcp, ws)
	roundTrip(t, ws, tcp)
}

func TestServerWebSocketOnly(t *testing.T) {
	srv := startServer(t, ServerConfig{Port: -1, WebSocketPort: 0})
	if srv.ClientURL() != "" {
		t.Errorf("ClientURL = %q with Port -1", srv.ClientURL())
	}
	ws := dial(t, srv.WebSocketURL())
	roundTrip(t, ws, connect(t, srv))
}

// roundTrip checks that a message from one connection reaches the other.
func roundTrip(t *testing.T, from, to *nats.Conn) {
	t.Helper()
	sub, err := to.SubscribeSync("rt")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := to.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := from.Publish("rt", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(2 * time.Second)
	if err != nil || string(msg.Data) != "hello" {
		t.Fatalf("got %v, %v", msg, err)
	}
}

func TestServerConfigErrors(t *testing.T) {
	for _, cfg := range []ServerConfig{{Port: -2}, {Port: 70000}, {WebSocketPort: -5}, {MaxPayload: -1}, {AllowedOrigins: []string{"evil.example"}}} {
		cfg = trusted(cfg)
		if srv, err := StartServer(cfg); err == nil {
			srv.Shutdown()
			t.Errorf("StartServer(%+v) succeeded", cfg)
		}
	}
}

func TestServerPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	srv, err := StartServer(trusted(ServerConfig{Port: port, WebSocketPort: -1}))
	if err == nil {
		srv.Shutdown()
		t.Fatal("StartServer on a busy port succeeded")
	}
	if !strings.Contains(err.Error(), "address already in use") || time.Since(start) > 5*time.Second {
		t.Errorf("error %q after %s", err, time.Since(start))
	}
}

func TestServerLogsToSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := StartServer(trusted(ServerConfig{DontListen: true, Logger: log}))
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if !strings.Contains(buf.String(), "component=nats-server") || strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("server log:\n%s", buf.String())
	}
}
