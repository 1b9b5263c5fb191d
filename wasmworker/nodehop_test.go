//go:build !js

package wasmworker

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestNodeHop measures an activation hop between two tab workers' Go wasm
// runtimes under Node.js (as scripts/tab-worker runs them), over NATS
// WebSocket through an embedded server with the activation log, and says
// where each hop's time goes: the sender's publish call, its bytes
// handed to WebSocket.send, the server's delivery (a native subscriber
// of the subject timestamps it), the receiver's message event, the
// reader's Read and the subscription handler. It is a benchmark, not a
// test: `make bench-node-hop` runs it (TABSHARD_BENCH=1).
// TABSHARD_HOP_N hops per size (default 300), TABSHARD_HOP_SIZES (default
// 16384,32768), TABSHARD_HOP_AFTER what the sender does after each
// publish (see cmd/hopbench), TABSHARD_HOPBENCH_WASM another build's
// hopbench.wasm (to compare on one machine), TABSHARD_HOP_FLOORS=0 skips
// the native and plain-JavaScript floors, TABSHARD_HOP_GPU=1 opens a Dawn
// device in each Node.js process (as tab workers do),
// TABSHARD_HOP_PUBLISH=plain publishes with nc.Publish (no log
// acknowledgement) instead of bus.AsyncLog.Send. GPU_NODE is the node
// binary (default: node on PATH), TABSHARD_WASM_EXEC Go's
// wasm_exec_node.js where there is no Go (scripts/bench-node-hop),
// HOP_USER_AGENT the WebSocket handshake's User-Agent (a browser's makes
// the server send 4 KiB messages).
func TestNodeHop(t *testing.T) {
	if os.Getenv("TABSHARD_BENCH") != "1" {
		t.Skip("a benchmark: make bench-node-hop runs it (TABSHARD_BENCH=1)")
	}
	node := cmp.Or(os.Getenv("GPU_NODE"), "node") // the GPU machine's (.gpu/setup.sh)
	if _, err := exec.LookPath(node); err != nil {
		t.Skip("no node on PATH and no GPU_NODE")
	}
	n := envInt("TABSHARD_HOP_N", 300)
	sizes := cmp.Or(os.Getenv("TABSHARD_HOP_SIZES"), "16384,32768")
	dir := t.TempDir()
	wasm := cmp.Or(os.Getenv("TABSHARD_HOPBENCH_WASM"), filepath.Join(dir, "hopbench.wasm"))
	if os.Getenv("TABSHARD_HOPBENCH_WASM") == "" {
		build := exec.Command("go", "build", "-trimpath", "-o", wasm, "./cmd/hopbench")
		build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building hopbench: %v\n%s", err, out)
		}
	}
	execJS := os.Getenv("TABSHARD_WASM_EXEC") // wasm_exec_node.js, where there is no Go
	if execJS == "" {
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			t.Fatal(err)
		}
		execJS = filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec_node.js")
	}

	trust, err := bus.DeriveTrust(make([]byte, bus.SecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartServer(bus.ServerConfig{Trust: trust, JetStreamDir: filepath.Join(dir, "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	creds, err := trust.Account().Coordinator("hop")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), creds.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const cluster = "hop"
	ctx := context.Background()
	if _, err := bus.OpenLog(ctx, nc, cluster, srv.LogOptions()); err != nil {
		t.Fatal(err)
	}
	subj, _ := bus.NewSubjects(cluster)
	// The server's delivery, seen by a native subscriber on loopback TCP.
	var mu sync.Mutex
	var served []hopEvent
	sub, err := nc.Subscribe(subj.Activations(), func(m *nats.Msg) {
		at := wallMS()
		if strings.Contains(m.Subject, ".act.floor.") { // jsFloor's: the sequence, then zeros
			mu.Lock()
			served = append(served, hopEvent{Kind: "server", T: at, N: len(m.Data), Seq: int(binary.LittleEndian.Uint32(m.Data)), From: m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]})
			mu.Unlock()
			return
		}
		a := &tabshardv1.Activation{}
		if proto.Unmarshal(m.Data, a) == nil {
			mu.Lock()
			served = append(served, hopEvent{Kind: "server", T: at, N: len(m.Data), Seq: int(a.GetFirstPosition()), From: a.GetProducerWorkerId()})
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()

	nodeArgs := []string{"--stack-size=8192", "--import", "./cmd/hopbench/trace.mjs"}
	if exec.Command(node, "-e", `process.exit(typeof WebSocket === "function" ? 0 : 1)`).Run() != nil {
		nodeArgs = append([]string{"--experimental-websocket"}, nodeArgs...) // Node.js 20
	}
	floorArgs := slices.Clone(nodeArgs)
	if x := os.Getenv("HOP_EXTRA_IMPORT"); x != "" {
		nodeArgs = append(nodeArgs, "--import", x)
	}
	if os.Getenv("TABSHARD_HOP_GPU") == "1" { // a Dawn device open, as in a tab worker
		nodeArgs = append(nodeArgs, "--import", "../tools/node/webgpu-preload.mjs", "--import", "./cmd/hopbench/gpu.mjs")
	}
	var report strings.Builder
	evs := runPair(t, dir, func(role string) *exec.Cmd {
		jwt, seed := workerCreds(t, trust, subj, "hop-"+role)
		cmd := exec.Command(node, append(nodeArgs, execJS, wasm)...)
		cmd.Env = append(os.Environ(), "HOP_ROLE="+role, "HOP_ID=hop-"+role, "HOP_CLUSTER="+cluster, "HOP_WS="+srv.WebSocketURL(),
			"HOP_JWT="+jwt, "HOP_SEED="+seed, "HOP_SIZES="+sizes, "HOP_N="+strconv.Itoa(n), "HOP_AFTER="+os.Getenv("TABSHARD_HOP_AFTER"), "HOP_PUBLISH="+os.Getenv("TABSHARD_HOP_PUBLISH"))
		return cmd
	})
	mu.Lock()
	fmt.Fprintf(&report, "Go wasm tab workers under Node.js, over NATS WebSocket (bus.AsyncLog.Send, a subscription):\n%s", breakdown(evs["ping"], evs["pong"], served, n, sizes))
	served = nil
	mu.Unlock()
	if os.Getenv("TABSHARD_HOP_FLOORS") == "0" {
		t.Logf("Node.js %s, load %s:\n%s", nodeVersion(node), loadAvg(), report.String())
		fmt.Print(report.String())
		return
	}
	for _, l := range []struct{ name, url string }{{"WebSocket", srv.WebSocketURL()}, {"TCP", srv.ClientURL()}} {
		evs := runPair(t, dir, func(role string) *exec.Cmd {
			jwt, seed := workerCreds(t, trust, subj, "hop-"+role)
			cmd := exec.Command(os.Args[0], "-test.run=^TestNodeHopNative$")
			cmd.Env = append(os.Environ(), "HOP_NATIVE=1", "HOP_ROLE="+role, "HOP_ID=hop-"+role, "HOP_CLUSTER="+cluster, "HOP_URL="+l.url,
				"HOP_JWT="+jwt, "HOP_SEED="+seed, "HOP_SIZES="+sizes, "HOP_N="+strconv.Itoa(n))
			return cmd
		})
		mu.Lock()
		fmt.Fprintf(&report, "native Go workers, two processes over %s (the same path):\n%s", l.name, breakdown(evs["ping"], evs["pong"], served, n, sizes))
		served = nil
		mu.Unlock()
	}
	evs = runPair(t, dir, func(role string) *exec.Cmd {
		jwt, seed := workerCreds(t, trust, subj, "hop-"+role)
		in, out := uint32(2), uint32(1)
		if role == "pong" {
			in, out = 1, 2
		}
		cmd := exec.Command(node, append(slices.Clone(floorArgs), "./cmd/hopbench/floor.mjs")...)
		cmd.Env = append(os.Environ(), "HOP_ROLE="+role, "HOP_WS="+srv.WebSocketURL(), "HOP_SIZES="+sizes, "HOP_N="+strconv.Itoa(n),
			"HOP_JWT="+jwt, "HOP_SEED="+seed, "HOP_PUB="+subj.Activation("floor", out, "hop-"+role), "HOP_SUB="+subj.StageInputs("floor", in))
		return cmd
	})
	mu.Lock()
	fmt.Fprintf(&report, "plain JavaScript under Node.js through the same server (plain publishes the log captures; no Go, no protobuf, no acknowledgements):\n%s", breakdown(evs["ping"], evs["pong"], served, n, sizes))
	served = nil
	mu.Unlock()
	report.WriteString(jsFloor(t, dir, node, floorArgs, sizes, n))
	t.Logf("Node.js %s, load %s:\n%s", nodeVersion(node), loadAvg(), report.String())
	fmt.Print(report.String())
}

// workerCreds issues a worker's credentials: its user JWT and seed.
func workerCreds(t *testing.T, trust *bus.Trust, subj bus.Subjects, id string) (string, string) {
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	jwt, err := trust.Account().Worker(subj, id, pub, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return jwt, string(seed)
}

// runPair runs the pong, then (once it prints READY) the ping, each the
// command cmd makes for its role with HOP_OUT added, and returns their
// events by role, each event's From its worker id.
func runPair(t *testing.T, dir string, cmd func(role string) *exec.Cmd) map[string][]hopEvent {
	t.Helper()
	evs := map[string][]hopEvent{}
	var procs []*exec.Cmd
	for _, role := range []string{"pong", "ping"} {
		c := cmd(role)
		c.Env = append(c.Env, "HOP_OUT="+filepath.Join(dir, role+".json"))
		c.Stderr = os.Stderr
		stdout, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Process.Kill()
		lines := bufio.NewScanner(stdout)
		for lines.Scan() && lines.Text() != "READY" {
		}
		go func() {
			for lines.Scan() {
			}
		}()
		procs = append(procs, c)
	}
	for i, role := range []string{"pong", "ping"} {
		if err := procs[i].Wait(); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
	}
	for _, role := range []string{"pong", "ping"} {
		b, err := os.ReadFile(filepath.Join(dir, role+".json"))
		var e []hopEvent
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		for i := range e {
			e[i].From = "hop-" + role
		}
		evs[role] = e
	}
	return evs
}

// jsFloor is the same ping-pong in plain JavaScript under Node.js
// (cmd/hopbench/floor.mjs) through a bare nats-server: no Go, no
// protobuf, no auth, no log. Node's WebSocket and the server are the
// rest.
func jsFloor(t *testing.T, dir, node string, nodeArgs []string, sizes string, n int) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true,
		Websocket: server.WebsocketOpts{Host: "127.0.0.1", Port: -1, NoTLS: true}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("bare nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var served []hopEvent
	nc.Subscribe("hop.*", func(m *nats.Msg) {
		at := wallMS()
		from := "hop-pong"
		if m.Subject == "hop.b" {
			from = "hop-ping"
		}
		mu.Lock()
		served = append(served, hopEvent{Kind: "server", T: at, N: len(m.Data), Seq: int(binary.LittleEndian.Uint32(m.Data)), From: from})
		mu.Unlock()
	})
	nc.Flush()
	evs := runPair(t, dir, func(role string) *exec.Cmd {
		cmd := exec.Command(node, append(slices.Clone(nodeArgs), "./cmd/hopbench/floor.mjs")...)
		pub, sub := "hop.b", "hop.a"
		if role == "pong" {
			pub, sub = sub, pub
		}
		cmd.Env = append(os.Environ(), "HOP_ROLE="+role, "HOP_WS="+ns.WebsocketURL(), "HOP_SIZES="+sizes, "HOP_N="+strconv.Itoa(n), "HOP_PUB="+pub, "HOP_SUB="+sub)
		return cmd
	})
	mu.Lock()
	defer mu.Unlock()
	return "plain JavaScript under Node.js through a bare nats-server (no auth, no JetStream):\n" + breakdown(evs["ping"], evs["pong"], served, n, sizes)
}

// hopEvent is one of cmd/hopbench's events (see there), or the server's.
type hopEvent struct {
	Kind string  `json:"k"`
	T    float64 `json:"t"`
	N    int     `json:"n"`
	Seq  int     `json:"seq"`
	From string  `json:"-"`
}

// hopSteps are the points of a hop, in order; each row of the breakdown
// is the time from one to the next.
var hopSteps = []struct{ name, what string }{
	{"publish", "Go: AsyncLog.Send called"},
	{"write", "Go: nats.go's flusher writes the bytes to the wsConn"},
	{"send", "JS: WebSocket.send called"},
	{"server", "server delivered it (native subscriber)"},
	{"data", "Node: the receiver's socket read the last bytes of it"},
	{"message", "JS: the receiver's last message event of it"},
	{"read", "Go: the receiver's last wsConn.Read of it returns"},
	{"handler", "Go: the subscription handler runs"},
}

// breakdown lines up each hop's events: the sender's and receiver's (by
// time: one message is in flight at a time) and the server's (by
// sequence and producer).
func breakdown(ping, pong, served []hopEvent, n int, sizesList string) string {
	byProc := map[string][]hopEvent{"hop-ping": ping, "hop-pong": pong}
	for _, evs := range byProc {
		slices.SortStableFunc(evs, func(a, b hopEvent) int { return cmp.Compare(a.T, b.T) })
	}
	var sizes []int
	for _, s := range strings.Split(sizesList, ",") {
		v, _ := strconv.Atoi(s)
		sizes = append(sizes, v)
	}
	var b strings.Builder
	for si, size := range sizes {
		first, last := si*(n+10)+10, (si+1)*(n+10) // the measured seqs
		seg := make([][]float64, len(hopSteps))
		var calls, sends []float64 // the Send call; WebSocket.send (the receiver may have the message before it returns)
		for _, dir := range [][2]string{{"hop-ping", "hop-pong"}, {"hop-pong", "hop-ping"}} {
			from, to := byProc[dir[0]], byProc[dir[1]]
			for seq := first; seq < last; seq++ {
				ts, ok := hopTimes(from, to, served, dir[0], seq)
				if !ok {
					continue
				}
				for i := 1; i < len(ts); i++ {
					seg[i] = append(seg[i], ts[i]-ts[i-1])
				}
				seg[0] = append(seg[0], ts[len(ts)-1]-ts[0])
				pub, _ := find(from, func(e hopEvent) bool { return e.Kind == "publish" && e.Seq == seq })
				if done, ok := find(from, func(e hopEvent) bool { return e.Kind == "published" && e.Seq == seq }); ok {
					calls = append(calls, done.T-pub.T)
				}
				send, ok1 := find(from, func(e hopEvent) bool { return e.Kind == "send" && e.N >= 1024 && e.T >= pub.T })
				sent, ok2 := find(from, func(e hopEvent) bool { return e.Kind == "sent" && e.N >= 1024 && e.T >= pub.T })
				if ok1 && ok2 {
					sends = append(sends, sent.T-send.T)
				}
			}
		}
		fmt.Fprintf(&b, "%d-byte payload, %d hops (both directions):\n", size, len(seg[0]))
		fmt.Fprintf(&b, "| step | p50 | p99 | mean |\n| --- | ---: | ---: | ---: |\n")
		for i := 1; i < len(hopSteps); i++ {
			fmt.Fprintf(&b, "| %s → %s | %s |\n", hopSteps[i-1].name, hopSteps[i].name, stats(seg[i]))
		}
		fmt.Fprintf(&b, "| **hop: publish → handler** | %s |\n", stats(seg[0]))
		fmt.Fprintf(&b, "| (the sender's Send call) | %s |\n", stats(calls))
		fmt.Fprintf(&b, "| (the sender's WebSocket.send call) | %s |\n", stats(sends))
	}
	return b.String()
}

// hopTimes are the times of hopSteps for message seq from one process to
// the other. A step a process does not have (no Go in the floor, no
// JavaScript in a native worker) takes the time of the step before.
func hopTimes(from, to, served []hopEvent, producer string, seq int) ([]float64, bool) {
	pub, ok := find(from, func(e hopEvent) bool { return e.Kind == "publish" && e.Seq == seq })
	if !ok {
		return nil, false
	}
	handler, ok := find(to, func(e hopEvent) bool { return e.Kind == "handler" && e.Seq == seq })
	if !ok {
		return nil, false
	}
	ts := []float64{pub.T}
	for _, st := range hopSteps[1 : len(hopSteps)-1] {
		var e hopEvent
		var ok bool
		switch st.name {
		case "server":
			e, ok = find(served, func(e hopEvent) bool { return e.Seq == seq && e.From == producer })
		case "write", "send": // the sender's first of the message
			if !slices.ContainsFunc(from, func(e hopEvent) bool { return e.Kind == st.name }) {
				e, ok = hopEvent{T: ts[len(ts)-1]}, true
				break
			}
			e, ok = find(from, func(e hopEvent) bool { return e.Kind == st.name && e.N >= 1024 && e.T >= pub.T && e.T <= handler.T })
		default: // the receiver's last before the handler
			if !slices.ContainsFunc(to, func(e hopEvent) bool { return e.Kind == st.name }) {
				e, ok = hopEvent{T: ts[len(ts)-1]}, true
				break
			}
			min := 1024
			if st.name == "data" { // a socket read may end with a short piece
				min = 1
			}
			e, ok = findLast(to, func(e hopEvent) bool { return e.Kind == st.name && e.N >= min && e.T >= pub.T && e.T <= handler.T })
		}
		if !ok {
			return nil, false
		}
		ts = append(ts, e.T)
	}
	return append(ts, handler.T), true
}

func find(evs []hopEvent, f func(hopEvent) bool) (hopEvent, bool) {
	i := slices.IndexFunc(evs, f)
	if i < 0 {
		return hopEvent{}, false
	}
	return evs[i], true
}

func findLast(evs []hopEvent, f func(hopEvent) bool) (hopEvent, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if f(evs[i]) {
			return evs[i], true
		}
	}
	return hopEvent{}, false
}

func stats(v []float64) string {
	if len(v) == 0 {
		return "— | — | —"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return fmt.Sprintf("%.3f ms | %.3f ms | %.3f ms", s[len(s)/2], s[min(len(s)-1, len(s)*99/100)], sum/float64(len(s)))
}

func wallMS() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func nodeVersion(node string) string {
	out, _ := exec.Command(node, "--version").Output()
	return strings.TrimSpace(string(out))
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// TestNodeHopNative is one end of nativeHops, run by it in a process of
// its own (HOP_NATIVE=1); the environment is cmd/hopbench's, HOP_URL a
// native NATS URL (nats:// or ws://).
func TestNodeHopNative(t *testing.T) {
	if os.Getenv("HOP_NATIVE") != "1" {
		t.Skip("run by TestNodeHop")
	}
	role, id, cluster := os.Getenv("HOP_ROLE"), os.Getenv("HOP_ID"), os.Getenv("HOP_CLUSTER")
	n := envInt("HOP_N", 300)
	subj, _ := bus.NewSubjects(cluster)
	ctx := context.Background()
	nc, err := nats.Connect(os.Getenv("HOP_URL"), nats.UserJWTAndSeed(os.Getenv("HOP_JWT"), os.Getenv("HOP_SEED")), nats.CustomInboxPrefix(subj.InboxPrefix(id)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l, err := bus.AttachLog(ctx, nc, cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := l.Async(bus.AsyncOptions{})
	in, to := uint32(2), uint32(1)
	if role == "pong" {
		in, to = 1, 2
	}
	var mu sync.Mutex
	var evs []hopEvent
	record := func(kind string, at float64, n, seq int) {
		mu.Lock()
		evs = append(evs, hopEvent{Kind: kind, T: at, N: n, Seq: seq})
		mu.Unlock()
	}
	got := make(chan *tabshardv1.Activation, 64)
	if _, err := nc.Subscribe(subj.StageInputs("hop", in), func(m *nats.Msg) {
		at := wallMS()
		a := &tabshardv1.Activation{}
		if proto.Unmarshal(m.Data, a) == nil {
			record("handler", at, len(m.Data), int(a.GetFirstPosition()))
			got <- a
		}
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	send := func(a *tabshardv1.Activation) {
		a.Stage, a.ProducerWorkerId = to, id
		record("publish", wallMS(), len(a.GetPayload()), int(a.GetFirstPosition()))
		if err := out.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("READY")
	sizes := strings.Split(os.Getenv("HOP_SIZES"), ",")
	if role == "pong" {
		for range len(sizes) * (n + 10) {
			send(<-got)
		}
	} else {
		seq := 0
		for _, s := range sizes {
			size, _ := strconv.Atoi(s)
			a := &tabshardv1.Activation{SessionId: "hop", TokenCount: 1, Payload: make([]byte, size)}
			for range n + 10 {
				a.FirstPosition = uint32(seq)
				send(a)
				select {
				case <-got:
				case <-time.After(30 * time.Second):
					t.Fatal("no echo")
				}
				seq++
			}
		}
	}
	out.Wait()
	mu.Lock()
	b, _ := json.Marshal(evs)
	mu.Unlock()
	if err := os.WriteFile(os.Getenv("HOP_OUT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
