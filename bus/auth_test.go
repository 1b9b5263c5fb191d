//go:build !js

package bus

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestDeriveTrust(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, SecretBytes)
	a, err := DeriveTrust(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveTrust(secret)
	other, _ := DeriveTrust(bytes.Repeat([]byte{2}, SecretBytes))
	if a.Account().PublicKey() != b.Account().PublicKey() || a.SystemAccount() != b.SystemAccount() {
		t.Error("the same secret derived different keys")
	}
	if a.Account().PublicKey() == other.Account().PublicKey() {
		t.Error("different secrets derived the same account")
	}
	if !strings.HasPrefix(a.Account().PublicKey(), "A") || a.Account().PublicKey() == a.SystemAccount() {
		t.Errorf("account %s, system account %s", a.Account().PublicKey(), a.SystemAccount())
	}
	for _, bad := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := DeriveTrust(bad); err == nil {
			t.Errorf("DeriveTrust of %d bytes succeeded", len(bad))
		}
	}
	seed, _ := a.Account().Seed()
	acc, err := ParseAccountSeed(seed)
	if err != nil || acc.PublicKey() != a.Account().PublicKey() {
		t.Errorf("ParseAccountSeed: %v, %v", acc, err)
	}
	key, _ := NewUserKey()
	userSeed, _ := key.kp.Seed()
	if _, err := ParseAccountSeed(userSeed); err == nil {
		t.Error("ParseAccountSeed took a user's seed")
	}
}

func TestAnonymousRefused(t *testing.T) {
	srv := startServer(t, ServerConfig{Port: 0, WebSocketPort: 0})
	for _, url := range []string{srv.ClientURL(), srv.WebSocketURL()} {
		if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Errorf("an anonymous client connected to %s", url)
		}
	}
	other, _ := DeriveTrust(bytes.Repeat([]byte{9}, SecretBytes))
	creds, _ := other.Account().Coordinator("stranger")
	if nc, err := nats.Connect(srv.ClientURL(), creds.Option(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a client of another cluster's account connected")
	}
	if _, err := StartServer(ServerConfig{DontListen: true}); err == nil {
		t.Error("a server without a Trust started")
	}
}

func TestExpiredCredentialsRefused(t *testing.T) {
	// Over TCP: an in-process connection the server refuses takes nats.go
	// 10s to give up on.
	srv := startServer(t, ServerConfig{Port: 0, WebSocketPort: -1})
	key, _ := NewUserKey()
	jwt, err := testTrust.Account().Worker(Subjects{Cluster: "c"}, "w1", key.PublicKey(), time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.ClientURL(), NewCredentials(key, jwt).Option(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("expired credentials connected")
	}
	// A JWT is useless without its key's seed.
	thief, _ := NewUserKey()
	fresh, _ := testTrust.Account().Worker(Subjects{Cluster: "c"}, "w1", key.PublicKey(), time.Now().Add(time.Hour))
	if nc, err := nats.Connect(srv.ClientURL(), NewCredentials(thief, fresh).Option(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a JWT connected with another key than the one it was issued for")
	}
}

// denials collects a connection's permission violations.
type denials struct {
	mu   sync.Mutex
	errs []string
}

func (d *denials) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		d.mu.Lock()
		d.errs = append(d.errs, err.Error())
		d.mu.Unlock()
	})
}

func (d *denials) has(subject string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.errs {
		if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

func TestWorkerPermissions(t *testing.T) {
	srv := inProcess(t)
	s := Subjects{Cluster: "c"}
	coord := connect(t, srv)
	openLog(t, srv, coord)
	spy, err := coord.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	var d denials
	w := connect(t, srv, append(workerCreds(t, "c", "w1"), d.option())...)
	allowed := []string{s.Heartbeat("w1"), s.Token("w1"), s.Activation("s1", 2, "w1"), "tabshard.c.rtc.w2.w1"}
	refused := []string{s.Heartbeat("w2"), s.Token("w2"), s.Activation("s1", 2, "w2"), s.Activation("s1", 0, CoordinatorProducer),
		s.Epoch(), s.StartSession(), s.Join(), s.AddCoordinator(), "tabshard.c.rtc.w2.w3", "tabshard.other.hb.w1",
		"$JS.API.STREAM.PURGE." + StreamName("c"), "$JS.API.STREAM.DELETE." + StreamName("c"),
		"$JS.API.CONSUMER.CREATE." + StreamName("c") + ".x." + s.Activations(), "$JS.API.DIRECT.GET." + StreamName("c")}
	for _, subject := range append(allowed, refused...) {
		if err := w.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for {
		msg, err := spy.NextMsg(300 * time.Millisecond)
		if err != nil {
			break
		}
		got[msg.Subject] = true
	}
	for _, subject := range allowed {
		if !got[subject] {
			t.Errorf("worker w1's publish on %s did not arrive", subject)
		}
	}
	for _, subject := range refused {
		if got[subject] {
			t.Errorf("worker w1 published on %s", subject)
		}
		if !d.has(subject) {
			t.Errorf("no permissions violation for w1's publish on %s", subject)
		}
	}
	for _, subject := range []string{">", s.Heartbeats(), s.Tokens(), s.Control(), s.InboxPrefix("w2") + ".x", "tabshard.c.rtc.w2.w1"} {
		if _, err := w.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for !d.has(subject) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !d.has(subject) {
			t.Errorf("worker w1 subscribed to %s", subject)
		}
	}
	// No consumer API: a consumer could deliver logged messages to any
	// subject.
	js, _ := jetstream.New(w)
	ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamName("c"), jetstream.ConsumerConfig{}); err == nil {
		t.Error("worker w1 created a consumer on the activation log")
	}
}

func TestWebSocketOrigins(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		origin  string
		want    int
	}{
		{nil, "http://evil.example", http.StatusForbidden},
		{nil, "", http.StatusSwitchingProtocols}, // not a browser: credentials decide
		{[]string{"http://127.0.0.1:8080"}, "http://127.0.0.1:8080", http.StatusSwitchingProtocols},
		{[]string{"http://127.0.0.1:8080"}, "http://127.0.0.1:8081", http.StatusForbidden},
		{[]string{"http://127.0.0.1:8080"}, "http://evil.example", http.StatusForbidden},
	} {
		srv := startServer(t, ServerConfig{Port: -1, WebSocketPort: 0, AllowedOrigins: tc.allowed})
		if got := upgradeStatus(t, srv.WebSocketURL(), tc.origin); got != tc.want {
			t.Errorf("allowed %v, Origin %q: status %d, want %d", tc.allowed, tc.origin, got, tc.want)
		}
	}
}

// upgradeStatus asks for a WebSocket upgrade with origin ("" for none).
func upgradeStatus(t *testing.T, wsURL, origin string) int {
	t.Helper()
	host := strings.TrimPrefix(wsURL, "ws://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", host)
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	fmt.Fprint(conn, req+"\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCheckSender(t *testing.T) {
	s := Subjects{Cluster: "c"}
	if err := CheckSender(s.Token("w1"), "w1"); err != nil {
		t.Error(err)
	}
	for _, claimed := range []string{"w2", "", "w1.x"} {
		if err := CheckSender(s.Token("w1"), claimed); err == nil {
			t.Errorf("token from %q on w1's subject accepted", claimed)
		}
	}
	if err := ValidUserKey("not a key"); err == nil {
		t.Error("ValidUserKey accepted garbage")
	}
	key, _ := NewUserKey()
	if err := ValidUserKey(key.PublicKey()); err != nil {
		t.Error(err)
	}
}

func TestProducer(t *testing.T) {
	changes := []*tabshardv1.PrimaryChange{
		{Epoch: 3, Stage: 0, WorkerId: "w1"}, {Epoch: 3, Stage: 1, WorkerId: "w2"},
		{Epoch: 7, Stage: 0, WorkerId: "w4"},
	}
	for _, tc := range []struct {
		stage    uint32
		epoch    uint64
		want     string
		recorded bool
	}{
		{0, 1, CoordinatorProducer, true},
		{1, 3, "w1", true},
		{1, 6, "w1", true},
		{1, 7, "w4", true},
		{1, 100, "w4", true},
		{2, 5, "w2", true},
		{1, 2, "", false}, // before the record
		{3, 9, "", false}, // no such stage recorded
	} {
		got, ok := Producer(changes, tc.stage, tc.epoch)
		if got != tc.want || ok != tc.recorded {
			t.Errorf("Producer(stage %d, epoch %d) = %q, %v; want %q, %v", tc.stage, tc.epoch, got, ok, tc.want, tc.recorded)
		}
	}
}

// Besides the coordinator, stage 0 takes the step after a token from the
// last stage's primary of the input's epoch, and from no one else.
func TestLastStageToFirst(t *testing.T) {
	changes := []*tabshardv1.PrimaryChange{
		{Epoch: 3, Stage: 0, WorkerId: "w1"}, {Epoch: 3, Stage: 1, WorkerId: "w2"},
		{Epoch: 7, Stage: 1, WorkerId: "w5"},
	}
	for _, tc := range []struct {
		stage    uint32
		epoch    uint64
		producer string
		want     bool
	}{
		{0, 3, "w2", true},
		{0, 6, "w2", true},
		{0, 7, "w5", true},
		{0, 7, "w2", false}, // the last stage's primary of an older epoch
		{0, 3, "w1", false}, // another stage's primary
		{0, 2, "w2", false}, // before the record
		{1, 3, "w2", false}, // only stage 0's inputs
	} {
		a := &tabshardv1.Activation{Stage: tc.stage, Epoch: tc.epoch, ProducerWorkerId: tc.producer}
		if got := LastStageToFirst(changes, 2, a); got != tc.want {
			t.Errorf("stage %d, epoch %d, from %s: %v, want %v", tc.stage, tc.epoch, tc.producer, got, tc.want)
		}
	}
	if LastStageToFirst(changes, 0, &tabshardv1.Activation{Epoch: 3, ProducerWorkerId: "w2"}) {
		t.Errorf("a plan of no stages has no last stage")
	}
}
