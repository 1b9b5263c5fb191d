//go:build !js

package bus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// openLog opens cluster "c"'s log on nc with srv's defaults.
func openLog(t testing.TB, srv *Server, nc *nats.Conn) *ActivationLog {
	t.Helper()
	log, err := OpenLog(testContext(t), nc, "c", srv.LogOptions())
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	return log
}

// publishAll logs each activation in order.
func publishAll(t testing.TB, log *ActivationLog, as ...*tabshardv1.Activation) {
	t.Helper()
	for _, a := range as {
		if err := log.Publish(testContext(t), a); err != nil {
			t.Fatalf("Publish %s: %v", span(a), err)
		}
	}
}

// replay returns what Replay delivers, checking every payload against the
// activation it was made from.
func replay(t testing.TB, log *ActivationLog, session string, stage, from, to uint32) (string, error) {
	t.Helper()
	var got []*tabshardv1.Activation
	err := log.Replay(testContext(t), session, stage, from, to, func(a *tabshardv1.Activation) error {
		want := act(session, stage, a.GetFirstPosition(), a.GetTokenCount(), a.GetEpoch())
		if !proto.Equal(a, want) {
			t.Errorf("replayed %s differs from what was published", span(a))
		}
		got = append(got, a)
		return nil
	})
	return spans(got), err
}

// sessionLog is what the tests publish: two sessions, two stages, with
// re-issued steps (same range, new epoch), late duplicate re-sends and, in
// s2 stage 1, an input logged before the one preceding it.
func sessionLog() []*tabshardv1.Activation {
	return []*tabshardv1.Activation{
		act("s1", 0, 0, 5, 1), act("s2", 0, 0, 3, 1),
		act("s1", 1, 0, 5, 1), act("s2", 1, 0, 3, 1),
		act("s1", 0, 5, 1, 1), act("s2", 0, 3, 1, 1),
		act("s1", 1, 5, 1, 1), act("s1", 0, 6, 1, 1),
		act("s2", 1, 4, 1, 1), act("s2", 1, 3, 1, 1), // out of order
		act("s1", 0, 6, 1, 2), act("s1", 1, 6, 1, 2), // re-issued in epoch 2
		act("s1", 0, 5, 1, 1), // late re-send
		act("s1", 0, 7, 1, 2), act("s1", 1, 7, 1, 2),
		act("s2", 0, 4, 1, 1), act("s2", 1, 5, 1, 1),
		act("s2", 1, 3, 1, 1), // late re-send
	}
}

func TestLogReplay(t *testing.T) {
	srv := inProcess(t)
	nc := connect(t, srv)
	log := openLog(t, srv, nc)
	publishAll(t, log, sessionLog()...)
	for _, tc := range []struct {
		session         string
		stage, from, to uint32
		want            string
	}{
		{"s1", 0, 0, 8, "[0,5)@1 [5,6)@1 [6,7)@1 [7,8)@2"},
		{"s1", 0, 5, 7, "[5,6)@1 [6,7)@1"},
		{"s1", 0, 6, ReplayToEnd, "[6,7)@1 [7,8)@2"},
		{"s1", 1, 0, 8, "[0,5)@1 [5,6)@1 [6,7)@2 [7,8)@2"},
		{"s1", 1, 5, 6, "[5,6)@1"},
		{"s2", 0, 0, 5, "[0,3)@1 [3,4)@1 [4,5)@1"},
		{"s2", 1, 0, 6, "[0,3)@1 [3,4)@1 [4,5)@1 [5,6)@1"},
		{"s2", 1, 3, 5, "[3,4)@1 [4,5)@1"},
		{"s2", 1, 2, 2, ""},
	} {
		got, err := replay(t, log, tc.session, tc.stage, tc.from, tc.to)
		if err != nil || got != tc.want {
			t.Errorf("Replay(%s, %d, [%d,%d)) = %q, %v; want %q", tc.session, tc.stage, tc.from, tc.to, got, err, tc.want)
		}
	}
}

func TestLogReplayIncomplete(t *testing.T) {
	srv := inProcess(t)
	log := openLog(t, srv, connect(t, srv))
	publishAll(t, log, act("s", 1, 0, 2, 1), act("s", 1, 3, 1, 1))
	for _, r := range [][2]uint32{{0, 4}, {0, ReplayToEnd}, {1, 3}} {
		if _, err := replay(t, log, "s", 1, r[0], r[1]); !errors.Is(err, ErrReplayIncomplete) {
			t.Errorf("Replay [%d,%d): err = %v, want ErrReplayIncomplete", r[0], r[1], err)
		}
	}
	if _, err := replay(t, log, "nobody", 1, 0, 1); !errors.Is(err, ErrReplayIncomplete) {
		t.Errorf("Replay of an unknown session: err = %v", err)
	}
	if _, err := replay(t, log, "s", 1, 3, 2); err == nil {
		t.Error("Replay [3,2) succeeded")
	}
}

func TestLogReplaySkipsMalformed(t *testing.T) {
	srv := inProcess(t)
	nc := connect(t, srv)
	log := openLog(t, srv, nc)
	publishAll(t, log, act("s", 0, 0, 1, 1))
	// A core publish on an activation subject is captured by the stream too.
	if err := nc.Publish(log.Subjects().Activation("s", 0, CoordinatorProducer), []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if err := Publish(nc, log.Subjects().Activation("s", 0, CoordinatorProducer), act("other", 0, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	// So is an input whose producer field names another producer than its
	// subject: a forgery.
	forged := act("s", 0, 1, 1, 1)
	forged.ProducerWorkerId = "w9"
	if err := Publish(nc, log.Subjects().Activation("s", 0, CoordinatorProducer), forged); err != nil {
		t.Fatal(err)
	}
	publishAll(t, log, act("s", 0, 1, 1, 1))
	got, err := replay(t, log, "s", 0, 0, 2)
	if err != nil || got != "[0,1)@1 [1,2)@1" {
		t.Errorf("Replay = %q, %v", got, err)
	}
}

func TestLogPublishReachesSubscribers(t *testing.T) {
	srv := inProcess(t)
	coord, worker := connect(t, srv), connect(t, srv)
	log := openLog(t, srv, coord)
	got := make(chan *tabshardv1.Activation, 8)
	sub, err := Subscribe(worker, log.Subjects().ActivationsFor(1), func() *tabshardv1.Activation { return new(tabshardv1.Activation) },
		func(a *tabshardv1.Activation, _ *nats.Msg) { got <- a })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}
	publishAll(t, log, act("s1", 1, 0, 2, 1), act("s1", 0, 2, 1, 1), act("s2", 1, 0, 1, 1))
	for _, want := range []string{"s1[0,2)@1", "s2[0,1)@1"} {
		select {
		case a := <-got:
			if s := a.GetSessionId() + span(a); s != want {
				t.Errorf("got %s, want %s", s, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no activation; want %s", want)
		}
	}
}

func TestLogPublishInvalid(t *testing.T) {
	srv := inProcess(t)
	log := openLog(t, srv, connect(t, srv))
	for _, a := range []*tabshardv1.Activation{
		act("a.b", 0, 0, 1, 1),
		act("", 0, 0, 1, 1),
		{SessionId: "s", TokenCount: 0},
		{SessionId: "s", FirstPosition: 1<<32 - 1, TokenCount: 2},
	} {
		if err := log.Publish(testContext(t), a); !errors.Is(err, ErrInvalidActivation) {
			t.Errorf("Publish(%v) = %v, want ErrInvalidActivation", a, err)
		}
	}
}

func TestOpenLogConcurrent(t *testing.T) {
	srv := inProcess(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		nc := connect(t, srv)
		wg.Go(func() {
			_, err := OpenLog(testContext(t), nc, "c", LogOptions{Memory: true, MaxAge: time.Hour, MaxBytes: 1 << 20})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	js, _ := jetstream.New(connect(t, srv))
	info, err := js.Stream(testContext(t), "TABSHARD_ACT_c")
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.Storage != jetstream.MemoryStorage || cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<20 ||
		cfg.Discard != jetstream.DiscardOld || cfg.Subjects[0] != "tabshard.c.act.>" {
		t.Errorf("stream config %+v", cfg)
	}
}

func TestOpenLogKeepsStorage(t *testing.T) {
	srv := inProcess(t)
	mem := openLog(t, srv, connect(t, srv))
	publishAll(t, mem, act("s", 0, 0, 1, 1))
	// A client asking for file storage and other limits gets the limits.
	file, err := OpenLog(testContext(t), connect(t, srv), "c", LogOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := file.stream.CachedInfo().Config
	if cfg.Storage != jetstream.MemoryStorage || cfg.MaxAge != time.Hour {
		t.Errorf("storage %v, max age %v", cfg.Storage, cfg.MaxAge)
	}
	if got, err := replay(t, file, "s", 0, 0, 1); err != nil || got != "[0,1)@1" {
		t.Errorf("Replay = %q, %v", got, err)
	}
}

func TestLogDeleteSession(t *testing.T) {
	srv := inProcess(t)
	log := openLog(t, srv, connect(t, srv))
	publishAll(t, log, sessionLog()...)
	if err := log.DeleteSession(testContext(t), "s1"); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []uint32{0, 1} {
		if got, err := replay(t, log, "s1", stage, 0, 1); !errors.Is(err, ErrReplayIncomplete) {
			t.Errorf("s1 stage %d after DeleteSession: %q, %v", stage, got, err)
		}
	}
	if got, err := replay(t, log, "s2", 1, 0, 6); err != nil || got != "[0,3)@1 [3,4)@1 [4,5)@1 [5,6)@1" {
		t.Errorf("s2 after deleting s1: %q, %v", got, err)
	}
	if err := log.DeleteSession(testContext(t), "s>"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("DeleteSession(s>) = %v", err)
	}
}

func TestLogReplayAfterReconnect(t *testing.T) {
	srv := inProcess(t)
	reconnected := make(chan struct{}, 1)
	var events syncBuffer
	nc := connect(t, srv, nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }),
		LogEvents(slog.New(slog.NewTextHandler(&events, nil))))
	log := openLog(t, srv, nc)
	publishAll(t, log, act("s", 1, 0, 3, 1), act("s", 1, 3, 1, 1))
	id, err := nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DisconnectClient(id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}
	publishAll(t, log, act("s", 1, 4, 1, 1))
	if got, err := replay(t, log, "s", 1, 0, 5); err != nil || got != "[0,3)@1 [3,4)@1 [4,5)@1" {
		t.Errorf("Replay after reconnect = %q, %v", got, err)
	}
	if e := events.String(); !strings.Contains(e, "nats disconnected") || !strings.Contains(e, "nats reconnected") {
		t.Errorf("LogEvents logged:\n%s", e)
	}
}

// syncBuffer is a bytes.Buffer safe for the connection's callbacks.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAttachLog(t *testing.T) {
	srv := inProcess(t)
	// The worker attaches, replays and logs with a worker's credentials:
	// stream info and message gets are all it may use of JetStream.
	coord, worker := connect(t, srv), connect(t, srv, workerCreds(t, "c", "w3")...)
	if _, err := AttachLog(testContext(t), worker, "c", nil); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("AttachLog before OpenLog: %v", err)
	}
	publishAll(t, openLog(t, srv, coord), act("s", 2, 0, 1, 1), act("s", 2, 1, 1, 1))
	log, err := AttachLog(testContext(t), worker, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := replay(t, log, "s", 2, 0, 2); err != nil || got != "[0,1)@1 [1,2)@1" {
		t.Errorf("Replay through an attached log = %q, %v", got, err)
	}
	out := act("s", 3, 0, 1, 1)
	out.ProducerWorkerId = "w3"
	if err := log.Publish(testContext(t), out); err != nil {
		t.Errorf("a worker logging its own output: %v", err)
	}
	out.ProducerWorkerId = "w2"
	ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond) // a refused publish is never acknowledged
	defer cancel()
	if err := log.Publish(ctx, out); err == nil {
		t.Error("a worker logged an output under another worker's id")
	}
}

func TestLogFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := StartServer(trusted(ServerConfig{Port: 0, WebSocketPort: -1, JetStreamDir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if srv.LogOptions().Memory {
		t.Fatal("LogOptions().Memory with a JetStreamDir")
	}
	addr := srv.ClientURL()
	nc := dial(t, addr)
	log := openLog(t, srv, nc)
	publishAll(t, log, sessionLog()...)
	srv.Shutdown()

	srv = startServer(t, ServerConfig{Port: portOf(t, addr), WebSocketPort: -1, JetStreamDir: dir})
	waitConnected(t, nc)
	if got, err := replay(t, log, "s1", 1, 0, 8); err != nil || got != "[0,5)@1 [5,6)@1 [6,7)@2 [7,8)@2" {
		t.Errorf("Replay after restart (old connection) = %q, %v", got, err)
	}
	fresh := openLog(t, srv, dial(t, srv.ClientURL()))
	if got, err := replay(t, fresh, "s2", 1, 0, 6); err != nil || got != "[0,3)@1 [3,4)@1 [4,5)@1 [5,6)@1" {
		t.Errorf("Replay after restart (new connection) = %q, %v", got, err)
	}
}

func portOf(t testing.TB, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return port
}
