//go:build !js

package bus

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestMain fails the run when goroutines outlive the tests: every server
// must be shut down and every connection closed.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 && !settled(before) {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "goroutines leaked: %d before, %d after\n%s\n",
			before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		code = 1
	}
	os.Exit(code)
}

func settled(before int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= before {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// startServer starts cfg's server and shuts it down after the test.
func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	srv, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// inProcess starts a listener-less server with JetStream in memory.
func inProcess(t testing.TB) *Server {
	return startServer(t, ServerConfig{DontListen: true})
}

// connect opens an in-process connection closed after the test.
func connect(t testing.TB, srv *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect(t.Name(), opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// dial opens a connection to url closed after the test.
func dial(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := Connect(url, opts...)
	if err != nil {
		t.Fatalf("Connect(%s): %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// act is an activation of count positions from first; its payload encodes
// the positions and the epoch, so a replayed copy can be checked.
func act(session string, stage, first, count uint32, epoch uint64) *tabshardv1.Activation {
	const dim = 4
	payload := make([]byte, 0, count*dim*2)
	for p := first; p < first+count; p++ {
		for i := range dim {
			payload = append(payload, byte(p), byte(i)+byte(epoch)<<4)
		}
	}
	return &tabshardv1.Activation{
		SessionId: session, Epoch: epoch, Stage: stage,
		FirstPosition: first, TokenCount: count,
		Dtype: tabshardv1.DType_D_TYPE_F16, Shape: []uint32{count, dim},
		Payload: payload, ProducerWorkerId: "w" + fmt.Sprint(stage),
	}
}

// span names an activation's range and epoch: "[5,6)@2".
func span(a *tabshardv1.Activation) string {
	return fmt.Sprintf("[%d,%d)@%d", a.GetFirstPosition(), end(a), a.GetEpoch())
}

func spans(as []*tabshardv1.Activation) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = span(a)
	}
	return strings.Join(s, " ")
}

// waitConnected waits until nc is connected (again).
func waitConnected(t testing.TB, nc *nats.Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected: status %v", nc.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
