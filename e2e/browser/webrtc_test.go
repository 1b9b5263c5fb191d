package browser

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/coordinator"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/wasmworker"
)

// The network namespace test (c): WebRTC needs real interfaces (Chromium
// gathers no candidates on loopback), and the test may send packets only
// to addresses it owns. So it makes a namespace with a veth pair and a
// default route, and runs the coordinator (this test binary, re-run as a
// helper) and two Chromium processes inside it: every candidate and packet
// stays there. Chromium is driven over its DevTools pipe, which needs no
// network.
const (
	nsHostA    = "10.77.0.1"
	nsHostB    = "10.77.0.2"
	helperEnv  = "TABSHARD_E2E_NETNS_COORDINATOR"
	helperPort = "8080"
)

// TestNetnsCoordinatorHelper is not a test: run with helperEnv set, it is
// the coordinator of TestWebRTCBetweenBrowsers, inside the namespace.
func TestNetnsCoordinatorHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("the coordinator of TestWebRTCBetweenBrowsers, run inside its network namespace")
	}
	_, trans := raft.NewInmemTransport("c1")
	cfg := coordinator.DefaultConfig()
	cfg.Cluster, cfg.JoinToken, cfg.WebDir = "netns", joinToken, os.Getenv(helperEnv)
	cfg.HTTPAddr, cfg.NATSHost, cfg.NATSPort, cfg.NATSWebSocketPort = nsHostA+":"+helperPort, nsHostA, 0, 0
	cfg.RaftTransport, cfg.RaftTimeouts = trans, 50*time.Millisecond
	cfg.Heartbeat, cfg.Lease, cfg.StepTimeout = 200*time.Millisecond, 4*time.Second, 4*time.Second
	cfg.MinWorkers, cfg.Stages = 3, 3
	c, err := coordinator.Start(context.Background(), cfg)
	if err != nil {
		fmt.Println("FAILED", err)
		os.Exit(1)
	}
	fmt.Println("READY", c.HTTPURL())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	go func() { // the test closes our stdin when it is done
		bufio.NewReader(os.Stdin).ReadString('\n')
		stop <- os.Interrupt
	}()
	<-stop
	c.Close()
	os.Exit(0)
}

// netns makes the namespace and removes it when the test ends.
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("TestWebRTCBetweenBrowsers makes a network namespace: it needs root (CI runs as root; TABSHARD_SKIP_BROWSER=1 skips the browser tests)")
	}
	name := fmt.Sprintf("ts-e2e-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", name).Run() // a leftover of a killed run
	ip("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	in := func(args ...string) { ip(append([]string{"netns", "exec", name, "ip"}, args...)...) }
	in("link", "set", "lo", "up")
	in("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	in("addr", "add", nsHostA+"/24", "dev", "v0")
	in("addr", "add", nsHostB+"/24", "dev", "v1")
	in("link", "set", "v0", "up")
	in("link", "set", "v1", "up")
	in("route", "add", "default", "via", nsHostB, "dev", "v0")
	return name
}

// startHelper runs the coordinator inside ns and returns its URL.
func startHelper(t *testing.T, ns string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsCoordinatorHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+wasmDir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if url, ok := strings.CutPrefix(lines.Text(), "READY "); ok {
			go func() {
				for lines.Scan() {
				}
			}()
			return url
		}
		if strings.HasPrefix(lines.Text(), "FAILED") {
			t.Fatalf("the coordinator in the namespace: %s", lines.Text())
		}
	}
	t.Fatalf("the coordinator in the namespace exited: %v", lines.Err())
	return ""
}

// startBrowserIn starts a headless Chromium inside ns, driven over its
// DevTools pipe.
func startBrowserIn(t *testing.T, ns string) *browser {
	return startBrowser(t,
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			path, _ := exec.LookPath("ip")
			cmd.Args = append([]string{"ip", "netns", "exec", ns, cmd.Path}, cmd.Args[1:]...)
			cmd.Path = path
		}),
		// Host candidates as addresses, not mDNS names: no multicast.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
}

// TestWebRTCBetweenBrowsers: two Chromium processes (no shared
// BroadcastChannel, two browser ids) run a three-stage pipeline; the
// leader picks WebRTC for the hop between them and BroadcastChannel for
// the hop inside the first, the tabs use those, and the text is
// llama2.c's.
func TestWebRTCBetweenBrowsers(t *testing.T) {
	skipWithoutBrowser(t)
	ns := netns(t)
	base := startHelper(t, ns)
	a, b := startBrowserIn(t, ns), startBrowserIn(t, ns)
	open := func(br *browser, name string) *tab {
		tb := br.open(name, fmt.Sprintf("%s/worker?token=%s&name=%s&backend=cpu", base, joinToken, name))
		tb.waitStatus("joined", 60*time.Second, func(s wasmworker.Status) bool { return s.WorkerID != "" })
		return tb
	}
	// Join order is pipeline order: stages 0 and 1 in browser A, 2 in B.
	tabs := []*tab{open(a, "a0"), open(a, "a1"), open(b, "b0")}
	for _, tb := range tabs {
		tb.waitStatus("ready", 60*time.Second, ready)
	}
	stage := map[int]wasmworker.Status{}
	for _, tb := range tabs {
		s := tb.status()
		stage[s.Stage] = s
	}
	if stage[0].Name != "a0" || stage[1].Name != "a1" || stage[2].Name != "b0" {
		t.Fatalf("stages 0, 1, 2 on %q, %q, %q; want a0, a1, b0", stage[0].Name, stage[1].Name, stage[2].Name)
	}

	chat := a.open("chat", base+"/chat")
	var got struct {
		Text  string `json:"text"`
		Done  bool   `json:"done"`
		Error string `json:"error"`
	}
	for run := range 2 { // the first run sets the WebRTC link up, the second uses it from the start
		if err := chat.eval(`document.getElementById("max_tokens").value = "60"; document.getElementById("send").click(); true`, new(bool)); err != nil {
			t.Fatal(err)
		}
		got.Done, got.Error = false, ""
		time.Sleep(300 * time.Millisecond)
		for deadline := time.Now().Add(90 * time.Second); !got.Done && got.Error == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err := chat.eval(`window.tabshardChat`, &got); err != nil {
				t.Fatal(err)
			}
		}
		if want := oracle(t); got.Text != want || got.Error != "" {
			t.Fatalf("run %d: text\n got %q (error %q)\nwant %q", run, got.Text, got.Error, want)
		}
	}
	// The leader picked the links from the tabs' browser ids: the
	// coordinator runs in the namespace, so its state comes through a tab.
	var raw string
	if err := chat.eval(`fetch("/api/state", {cache: "no-store"}).then((r) => r.text())`, &raw); err != nil {
		t.Fatal(err)
	}
	st := &tabshardv1.ClusterState{}
	if err := protojson.Unmarshal([]byte(raw), st); err != nil {
		t.Fatalf("/api/state: %v", err)
	}
	if got, want := planLinks(st.GetPlan()), []tabshardv1.Link{tabshardv1.Link_LINK_NATS, tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC}; !slices.Equal(got, want) {
		t.Errorf("the committed plan's links %v, want %v (NATS in, BroadcastChannel inside browser A, WebRTC from A to B)", got, want)
	}
	browser := map[string]string{}
	for _, m := range st.GetMembers() {
		browser[m.GetWorkerId()] = m.GetCapabilities().GetBrowserId()
	}
	if a0, a1, b0 := browser[stage[0].WorkerID], browser[stage[1].WorkerID], browser[stage[2].WorkerID]; a0 == "" || a0 != a1 || b0 == "" || b0 == a0 {
		t.Errorf("browser ids: a0 %q, a1 %q, b0 %q; want a0 = a1 ≠ b0", a0, a1, b0)
	}
	links := func(tb *tab, peer, kind string) wasmworker.LinkStatus {
		s := tb.waitStatus(kind+" link to "+peer, 10*time.Second, func(s wasmworker.Status) bool {
			for _, l := range s.Links {
				if l.Peer == peer && l.Kind == kind && (l.Sent > 0 || l.Recv > 0) {
					return true
				}
			}
			return false
		})
		for _, l := range s.Links {
			if l.Peer == peer && l.Kind == kind {
				return l
			}
		}
		return wasmworker.LinkStatus{}
	}
	for _, tb := range tabs {
		t.Logf("tab %s links: %+v", tb.name, tb.status().Links)
	}
	if l := links(tabs[1], stage[2].WorkerID, "webrtc"); l.State != "open" || l.Sent < 60 {
		t.Errorf("stage 1 → 2 (across browsers): %+v, want an open WebRTC link that carried the second run", l)
	}
	if l := links(tabs[2], stage[1].WorkerID, "webrtc"); l.Recv < 60 || l.Refused != 0 {
		t.Errorf("stage 2 received over WebRTC: %+v", l)
	}
	if l := links(tabs[0], stage[1].WorkerID, "broadcast"); l.Sent < 60 {
		t.Errorf("stage 0 → 1 (one browser): %+v, want BroadcastChannel", l)
	}
}
