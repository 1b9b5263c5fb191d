//go:build js && wasm

package bus

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestSendWritesBeforeReturning (Go's wasm runtime: one goroutine at a
// time, no preemption): once Send returns, nats.go's flusher has written
// the activation to the connection, though the caller never blocked —
// without the yield it would sit in the connection's buffer until the
// sender next waits. The same for SendAll, once for the batch.
func TestSendWritesBeforeReturning(t *testing.T) {
	srv := newFakeServer(t)
	nc, err := nats.Connect("nats://fake:4222", nats.SetCustomDialer(srv), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := NewSubjects("c1")
	al := newActivationLog(nc, js, nil, subj, nil).Async(AsyncOptions{})
	ctx := context.Background()
	a := &tabshardv1.Activation{SessionId: "s1", Stage: 1, TokenCount: 1, ProducerWorkerId: "w1", Payload: make([]byte, 1024)}
	if err := al.Send(ctx, a); err != nil {
		t.Fatal(err)
	}
	// No blocking call between Send and this check: in wasm nothing else
	// ran unless Send let it.
	if got := srv.published(); got != 1 {
		t.Fatalf("after Send: the server read %d publishes of the activation, want 1", got)
	}
	b := &tabshardv1.Activation{SessionId: "s1", Stage: 1, FirstPosition: 1, TokenCount: 1, ProducerWorkerId: "w1", Payload: make([]byte, 1024)}
	c := &tabshardv1.Activation{SessionId: "s1", Stage: 1, FirstPosition: 2, TokenCount: 1, ProducerWorkerId: "w1", Payload: make([]byte, 1024)}
	if err := al.SendAll(ctx, []*tabshardv1.Activation{b, c}); err != nil {
		t.Fatal(err)
	}
	if got := srv.published(); got != 3 {
		t.Fatalf("after SendAll: the server read %d publishes, want 3", got)
	}
	// An invalid activation is refused and nothing more is written.
	if err := al.Send(ctx, &tabshardv1.Activation{SessionId: "s1", Stage: 1, ProducerWorkerId: "w1"}); err == nil {
		t.Fatal("an activation of no positions was sent")
	}
	if got := srv.published(); got != 3 {
		t.Fatalf("after a refused Send: %d publishes, want 3", got)
	}
}

// fakeServer speaks just enough NATS over an in-memory pipe for a client
// to connect, and counts the publishes on the activation subjects it
// reads.
type fakeServer struct {
	t    *testing.T
	mu   sync.Mutex
	read bytes.Buffer
}

func newFakeServer(t *testing.T) *fakeServer { return &fakeServer{t: t} }

func (s *fakeServer) Dial(_, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	go s.serve(server)
	return client, nil
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	if _, err := c.Write([]byte(`INFO {"server_id":"fake","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576}` + "\r\n")); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line == "PING\r\n" {
			c.Write([]byte("PONG\r\n"))
		}
		s.mu.Lock()
		s.read.WriteString(line)
		s.mu.Unlock()
	}
}

// published counts the publishes read so far on cluster c1's activation
// subjects.
func (s *fakeServer) published() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, line := range strings.Split(s.read.String(), "\n") {
		if (strings.HasPrefix(line, "PUB ") || strings.HasPrefix(line, "HPUB ")) && strings.Contains(line, ".c1.act.") {
			n++
		}
	}
	return n
}
