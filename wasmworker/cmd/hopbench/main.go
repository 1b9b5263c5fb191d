//go:build js && wasm

// Command hopbench is one end of an activation hop between two Go wasm
// processes under Node.js, over NATS WebSocket, as tab workers send their
// stages' outputs (bus.AsyncLog: published on the activation subject, the
// log's acknowledgement awaited behind). It timestamps every step of a
// hop on the machine's shared clock (performance.timeOrigin +
// performance.now()) so that the harness (TestNodeHop in wasmworker) can
// line up the sender's, the server's and the receiver's events. Built
// and run only by that benchmark.
//
// Environment: HOP_ROLE ping|pong, HOP_WS (the server's WebSocket URL),
// HOP_CLUSTER, HOP_ID (this worker's id), HOP_JWT and HOP_SEED (its
// credentials), HOP_SIZES (comma-separated message sizes), HOP_N (hops
// per size), HOP_OUT (where the events go, JSON), HOP_AFTER (what the
// sender does right after each publish: "" nothing, "sleep" a goroutine
// that sleeps 1 ms as gpu.Stage.prepareNext does, "busy" 2 ms of work
// before blocking, as a stage that records its next command buffer at
// once would), HOP_PUBLISH=plain to publish with nc.Publish (no log
// acknowledgement, as before the log was taken off the path it was
// awaited) instead of bus.AsyncLog.Send.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker"
)

// event is one timestamped step: Kind, at T (ms on the shared clock), of
// N bytes, for message Seq (-1: not known at that layer).
type event struct {
	Kind string  `json:"k"`
	T    float64 `json:"t"`
	N    int     `json:"n"`
	Seq  int     `json:"seq"`
}

var (
	perf   = js.Global().Get("performance")
	origin = perf.Get("timeOrigin").Float()
	events = make([]event, 0, 1<<16)
)

func now() float64 { return origin + perf.Call("now").Float() }

func record(kind string, n, seq int) { events = append(events, event{kind, now(), n, seq}) }

func main() {
	err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hopbench:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func run() error {
	role, id, cluster := os.Getenv("HOP_ROLE"), os.Getenv("HOP_ID"), os.Getenv("HOP_CLUSTER")
	n, _ := strconv.Atoi(os.Getenv("HOP_N"))
	var sizes []int
	for _, s := range strings.Split(os.Getenv("HOP_SIZES"), ",") {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("HOP_SIZES: %w", err)
		}
		sizes = append(sizes, v)
	}
	subj, err := bus.NewSubjects(cluster)
	if err != nil {
		return err
	}
	ctx := context.Background()
	nc, err := nats.Connect("nats://hop:4222",
		nats.SetCustomDialer(dialer{ctx, os.Getenv("HOP_WS")}),
		nats.UserJWTAndSeed(os.Getenv("HOP_JWT"), os.Getenv("HOP_SEED")),
		nats.CustomInboxPrefix(subj.InboxPrefix(id)))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	alog, err := bus.AttachLog(ctx, nc, cluster, nil)
	if err != nil {
		return err
	}
	out := alog.Async(bus.AsyncOptions{})
	// The ping's inputs are stage 2's, the pong's stage 1's.
	in, to := uint32(2), uint32(1)
	if role == "pong" {
		in, to = 1, 2
	}
	got := make(chan *tabshardv1.Activation, 64)
	if _, err := nc.Subscribe(subj.StageInputs("hop", in), func(m *nats.Msg) {
		t := now()
		a := &tabshardv1.Activation{}
		if proto.Unmarshal(m.Data, a) != nil {
			return
		}
		events = append(events, event{"handler", t, len(m.Data), int(a.GetFirstPosition())})
		got <- a
	}); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	after := afterPublish(os.Getenv("HOP_AFTER"))
	publish := out.Send
	if os.Getenv("HOP_PUBLISH") == "plain" {
		publish = func(_ context.Context, a *tabshardv1.Activation) error {
			return bus.Publish(nc, subj.Activation(a.GetSessionId(), a.GetStage(), a.GetProducerWorkerId()), a)
		}
	}
	send := func(a *tabshardv1.Activation) error {
		a.Stage, a.ProducerWorkerId = to, id
		record("publish", len(a.GetPayload()), int(a.GetFirstPosition()))
		if err := publish(ctx, a); err != nil {
			return err
		}
		record("published", len(a.GetPayload()), int(a.GetFirstPosition()))
		after()
		return nil
	}
	fmt.Println("READY") // the harness starts the ping once the pong is here
	if role == "pong" {
		for range len(sizes) * (n + warmup) {
			a := <-got
			if err := send(a); err != nil {
				return err
			}
		}
	} else {
		seq := 0
		for _, size := range sizes {
			a := &tabshardv1.Activation{SessionId: "hop", TokenCount: 1, Payload: make([]byte, size)}
			for range n + warmup {
				a.FirstPosition = uint32(seq)
				if err := send(a); err != nil {
					return err
				}
				select {
				case b := <-got:
					if int(b.GetFirstPosition()) != seq {
						return fmt.Errorf("echo of %d for %d", b.GetFirstPosition(), seq)
					}
				case <-time.After(30 * time.Second):
					return fmt.Errorf("no echo of message %d (%d bytes)", seq, size)
				}
				seq++
			}
		}
	}
	out.Wait()
	return dump()
}

// warmup is how many hops of each size go before those measured (the
// harness drops them).
const warmup = 10

// afterPublish is what the sender does right after a publish.
func afterPublish(mode string) func() {
	switch mode {
	case "sleep": // gpu.Stage.prepareNext
		return func() {
			go func() { time.Sleep(time.Millisecond); spin(2 * time.Millisecond) }()
		}
	case "busy":
		return func() { spin(2 * time.Millisecond) }
	}
	return func() {}
}

// spin keeps the goroutine (and so, in Go's wasm runtime, the process)
// busy for d.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// dump writes this process's events, and those the preload recorded in
// JavaScript (WebSocket send and message), to HOP_OUT.
func dump() error {
	if t := js.Global().Get("__hopTrace"); t.Truthy() {
		for i := range t.Length() {
			e := t.Index(i)
			events = append(events, event{e.Index(0).String(), e.Index(1).Float(), e.Index(2).Int(), -1})
		}
	}
	b, err := json.Marshal(events)
	if err != nil {
		return err
	}
	return os.WriteFile(os.Getenv("HOP_OUT"), b, 0o644)
}

// dialer opens the WebSocket as a tab worker does, and records what Go
// writes to it and reads from it.
type dialer struct {
	ctx context.Context
	url string
}

func (d dialer) Dial(_, _ string) (net.Conn, error) {
	c, err := wasmworker.DialWebSocket(d.ctx, d.url)
	if err != nil {
		return nil, err
	}
	return tracedConn{c}, nil
}

type tracedConn struct{ net.Conn }

func (c tracedConn) Write(p []byte) (int, error) {
	record("write", len(p), -1)
	return c.Conn.Write(p)
}

func (c tracedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	record("read", n, -1)
	return n, err
}
