//go:build !js

package bus

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestRequestReply(t *testing.T) {
	srv := inProcess(t)
	leader, worker := connect(t, srv), connect(t, srv)
	subj := Subjects{Cluster: "c"}.Join()
	_, err := Subscribe(leader, subj, func() *tabshardv1.JoinRequest { return new(tabshardv1.JoinRequest) },
		func(req *tabshardv1.JoinRequest, msg *nats.Msg) {
			reply := &tabshardv1.JoinReply{WorkerId: "w-" + req.GetName(), LeaseMs: 3000}
			if err := Respond(leader, msg, reply); err != nil {
				t.Errorf("Respond: %v", err)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Flush(); err != nil { // the server has the subscription
		t.Fatal(err)
	}
	var reply tabshardv1.JoinReply
	if err := Request(testContext(t), worker, subj, &tabshardv1.JoinRequest{Name: "tab1"}, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.GetWorkerId() != "w-tab1" || reply.GetLeaseMs() != 3000 {
		t.Errorf("reply %v", &reply)
	}
}

func TestRequestNoResponders(t *testing.T) {
	nc := connect(t, inProcess(t))
	err := Request(testContext(t), nc, "nobody", &tabshardv1.JoinRequest{}, &tabshardv1.JoinReply{})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("err = %v, want ErrNoResponders", err)
	}
}

func TestRequestMalformedReply(t *testing.T) {
	nc := connect(t, inProcess(t))
	sub, err := nc.Subscribe("bad", func(m *nats.Msg) { _ = m.Respond([]byte{0xff, 0xff}) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	err = Request(testContext(t), nc, "bad", &tabshardv1.JoinRequest{}, &tabshardv1.JoinReply{})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

func TestSubscribeDropsMalformed(t *testing.T) {
	srv := inProcess(t)
	pub, sub := connect(t, srv), connect(t, srv)
	subj := Subjects{Cluster: "c"}.Heartbeat("w1")
	got := make(chan *tabshardv1.Heartbeat, 4)
	var dropped atomic.Uint64
	s, err := Subscribe(sub, subj, func() *tabshardv1.Heartbeat { return new(tabshardv1.Heartbeat) },
		func(hb *tabshardv1.Heartbeat, _ *nats.Msg) { got <- hb }, WithDropCounter(&dropped))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	// A truncated varint and a wrong wire type: neither decodes.
	for _, garbage := range [][]byte{{0x08, 0xff}, {0x0b, 0x01, 0x02}} {
		if err := pub.Publish(subj, garbage); err != nil {
			t.Fatal(err)
		}
	}
	if err := Publish(pub, subj, &tabshardv1.Heartbeat{WorkerId: "w1", Epoch: 7}); err != nil {
		t.Fatal(err)
	}
	select {
	case hb := <-got:
		if hb.GetWorkerId() != "w1" || hb.GetEpoch() != 7 {
			t.Errorf("got %v", hb)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("valid heartbeat not delivered")
	}
	if n := dropped.Load(); n != 2 || len(got) != 0 {
		t.Errorf("dropped %d, extra %d; want 2 dropped, none extra", n, len(got))
	}
}

func TestPublishOversized(t *testing.T) {
	srv := startServer(t, ServerConfig{DontListen: true, MaxPayload: 4096})
	nc := connect(t, srv)
	big := act("s", 1, 0, 600, 1) // 600 positions × 8 bytes: over 4 KiB
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrPayloadTooLarge) || !strings.Contains(err.Error(), "the limit is 4096 bytes") ||
			!strings.Contains(err.Error(), "Activation") {
			t.Errorf("%s: %v", what, err)
		}
	}
	check("Publish", Publish(nc, "x", big))
	check("Request", Request(testContext(t), nc, "x", big, &tabshardv1.Activation{}))
	log, err := OpenLog(testContext(t), nc, "c", srv.LogOptions())
	if err != nil {
		t.Fatal(err)
	}
	check("ActivationLog.Publish", log.Publish(testContext(t), big))
	if !nc.IsConnected() {
		t.Error("connection lost after refusing oversized messages")
	}
}
