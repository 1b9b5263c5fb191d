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

// testTrust is the trust chain of every test server: derived from a fixed
// secret, as coordinators derive theirs from the cluster's.
var testTrust = func() *Trust {
	t, err := DeriveTrust(make([]byte, SecretBytes))
	if err != nil {
		panic(err)
	}
	return t
}()

// trusted fills in testTrust.
func trusted(cfg ServerConfig) ServerConfig {
	if cfg.Trust == nil {
		cfg.Trust = testTrust
	}
	return cfg
}

// coordinatorCreds are full-permission credentials of testTrust.
func coordinatorCreds(t testing.TB) nats.Option {
	t.Helper()
	creds, err := testTrust.Account().Coordinator("test")
	if err != nil {
		t.Fatal(err)
	}
	return creds.Option()
}

// workerCreds are worker's credentials in cluster, issued as a coordinator
// issues them at join.
func workerCreds(t testing.TB, cluster, worker string) []nats.Option {
	t.Helper()
	key, err := NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	s := Subjects{Cluster: cluster}
	userJWT, err := testTrust.Account().Worker(s, worker, key.PublicKey(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return []nats.Option{NewCredentials(key, userJWT).Option(), nats.CustomInboxPrefix(s.InboxPrefix(worker))}
}

// startServer starts cfg's server (with testTrust unless it has a Trust)
// and shuts it down after the test.
func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	srv, err := StartServer(trusted(cfg))
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

// connect opens an in-process connection closed after the test, with
// coordinator credentials unless opts carry others.
func connect(t testing.TB, srv *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect(t.Name(), append([]nats.Option{coordinatorCreds(t)}, opts...)...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// dial opens a connection to url closed after the test, with coordinator
// credentials unless opts carry others.
func dial(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := Connect(url, append([]nats.Option{coordinatorCreds(t)}, opts...)...)
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
		Payload: payload, ProducerWorkerId: producerOf(stage),
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

// producerOf is the producer of stage's inputs in tests: the coordinator
// for stage 0, worker "w<stage>" after it.
func producerOf(stage uint32) string {
	if stage == 0 {
		return CoordinatorProducer
	}
	return "w" + fmt.Sprint(stage)
}
