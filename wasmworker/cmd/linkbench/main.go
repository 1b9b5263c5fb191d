//go:build js && wasm

// Command linkbench measures activation hops between two tabs over
// BroadcastChannel, a WebRTC data channel or NATS over WebSocket, in the
// browser: /static/linkbench.html?role=ping|pong&name=A&token=T&kind=broadcast|webrtc|nats
// (the ping also &peer=<the pong's worker id>).
// The ping tab sends each activation to the pong tab, which sends it back;
// half a round trip is a hop. Results go to window.tabshardBench. Built
// only for `make bench` (e2e/browser), not embedded in tabshard.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"syscall/js"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker"
	"github.com/tabshard/tabshard/wasmworker/link"
)

// Result is one message size's hops.
type Result struct {
	Kind     string  `json:"kind"`
	Bytes    int     `json:"bytes"`
	N        int     `json:"n"`
	HopP50   float64 `json:"hop_p50_ms"`
	HopP99   float64 `json:"hop_p99_ms"`
	MBPerSec float64 `json:"mb_per_s"` // message bytes over the median hop
	// SendP50 is the median time the ping spends in its send call
	// (encoding, the copy into JavaScript, handing it to the link).
	SendP50 float64 `json:"send_p50_ms"`
}

func report(v any) {
	b, _ := json.Marshal(v)
	js.Global().Set("tabshardBench", string(b))
}

func main() {
	if err := run(); err != nil {
		report(map[string]string{"error": err.Error()})
	}
	select {}
}

func run() error {
	u, _ := url.Parse(js.Global().Get("location").Get("href").String())
	q := u.Query()
	role, name, peer, kind := q.Get("role"), q.Get("name"), q.Get("peer"), q.Get("kind")
	n16, _ := strconv.Atoi(q.Get("n16"))
	n8m, _ := strconv.Atoi(q.Get("n8m"))
	ctx := context.Background()
	origin := u.Scheme + "://" + u.Host
	var info struct {
		Cluster string `json:"cluster"`
		WS      string `json:"nats_ws_url"`
	}
	resp, err := http.Get(origin + "/api/join")
	if err != nil {
		return err
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	// The bus admits only members: join as a worker that never
	// heartbeats (its lease lapses; its credential lasts the run).
	id, creds, inbox, err := join(origin, q.Get("token"), name)
	if err != nil {
		return err
	}
	nc, err := nats.Connect("nats://bench:4222", nats.SetCustomDialer(dialer{ctx, info.WS}), creds.Option(), nats.CustomInboxPrefix(inbox))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	subj, err := bus.NewSubjects(info.Cluster)
	if err != nil {
		return err
	}
	got := make(chan *tabshardv1.Activation, 64)
	var send func(*tabshardv1.Activation) error
	var reaches func() bool
	switch kind {
	case "nats":
		// What a stage does: publish on the activation subject of the
		// next stage (the log's stream stores it too); the ping's inputs
		// are "stage 2", the pong's "stage 1".
		in, out := uint32(2), uint32(1)
		if role == "pong" {
			in, out = 1, 2
		}
		_, err := nc.Subscribe(subj.StageInputs("bench", in), func(m *nats.Msg) {
			a := &tabshardv1.Activation{}
			if proto.Unmarshal(m.Data, a) == nil {
				got <- a
			}
		})
		if err != nil {
			return err
		}
		nc.Flush()
		send = func(a *tabshardv1.Activation) error {
			b, _ := proto.Marshal(a)
			return nc.Publish(subj.Activation("bench", out, id), b)
		}
		reaches = func() bool { return true }
	case "broadcast", "webrtc":
		var t link.Transport
		if kind == "broadcast" {
			t = link.NewBroadcast(info.Cluster)
		} else {
			t = link.NewWebRTC(info.Cluster, func() *nats.Conn { return nc }, link.WebRTCOptions{})
		}
		mux := link.NewMux(nil, t)
		mux.SetSelf(id)
		mux.Receive(func(a *tabshardv1.Activation) { got <- a })
		send = func(a *tabshardv1.Activation) error { mux.SendVia(peer, t.Link(), a); return nil }
		reaches = func() bool { return t.Reaches(peer) }
	default:
		return fmt.Errorf("kind=%q: want broadcast, webrtc or nats", kind)
	}
	if role == "pong" {
		report(map[string]string{"state": "echoing", "worker_id": id})
		for a := range got {
			peer = a.GetProducerWorkerId()
			send(a)
		}
		return nil
	}
	for deadline := time.Now().Add(30 * time.Second); !reaches(); time.Sleep(50 * time.Millisecond) {
		if kind == "webrtc" {
			send(&tabshardv1.Activation{SessionId: "hello", TokenCount: 1, ProducerWorkerId: id}) // starts connecting
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no link to %s after 30s", kind, peer)
		}
	}
	var results []Result
	for _, c := range []struct{ bytes, n int }{{16 << 10, max(n16, 1)}, {8<<20 - 64, max(n8m, 1)}} {
		r, err := pingPong(kind, id, c.bytes, c.n, send, got)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	report(map[string]any{"results": results})
	return nil
}

// pingPong times n round trips of an activation of about size bytes,
// after a few to warm up.
func pingPong(kind, self string, size, n int, send func(*tabshardv1.Activation) error, got chan *tabshardv1.Activation) (Result, error) {
	a := &tabshardv1.Activation{SessionId: "bench", TokenCount: 1, ProducerWorkerId: self, Payload: make([]byte, size-32)}
	for len(got) > 0 {
		<-got
	}
	var rtts, sends []float64
	for i := -3; i < n; i++ {
		a.FirstPosition = uint32(i + 3)
		start := time.Now()
		if err := send(a); err != nil {
			return Result{}, err
		}
		if i >= 0 {
			sends = append(sends, float64(time.Since(start).Microseconds())/1000)
		}
		for {
			select {
			case b := <-got:
				if b.GetFirstPosition() != a.FirstPosition {
					continue // a late echo of an earlier one
				}
			case <-time.After(30 * time.Second):
				return Result{}, fmt.Errorf("%s: no echo of a %d-byte message", kind, size)
			}
			break
		}
		if i >= 0 {
			rtts = append(rtts, float64(time.Since(start).Microseconds())/1000)
		}
	}
	slices.Sort(rtts)
	slices.Sort(sends)
	p50, p99 := rtts[len(rtts)/2]/2, rtts[min(len(rtts)-1, len(rtts)*99/100)]/2
	return Result{Kind: kind, Bytes: size, N: n, HopP50: p50, HopP99: p99, MBPerSec: float64(size) / (1 << 20) / (p50 / 1000), SendP50: sends[len(sends)/2]}, nil
}

// join admits this tab as a worker named name with the join token.
func join(origin, token, name string) (string, *bus.Credentials, string, error) {
	key, err := bus.NewUserKey()
	if err != nil {
		return "", nil, "", err
	}
	body, _ := protojson.Marshal(&tabshardv1.JoinRequest{Name: name, UserNkey: key.PublicKey()})
	req, _ := http.NewRequest(http.MethodPost, origin+"/api/join", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", nil, "", fmt.Errorf("join: %s: %s", resp.Status, b)
	}
	reply := &tabshardv1.JoinReply{}
	if err := protojson.Unmarshal(b, reply); err != nil {
		return "", nil, "", fmt.Errorf("join: %w", err)
	}
	return reply.GetWorkerId(), bus.NewCredentials(key, reply.GetUserJwt()), reply.GetInboxPrefix(), nil
}

// dialer gives nats.go the page's WebSocket to the NATS server.
type dialer struct {
	ctx context.Context
	url string
}

func (d dialer) Dial(_, _ string) (net.Conn, error) { return wasmworker.DialWebSocket(d.ctx, d.url) }
