package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator"
	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker/agent"
)

// The attacks of issue 11 (findings 1-9 and 12) on the bus, each refused
// by the server's permissions or by a check that counts and logs it, while
// honest clients' completions stay exactly llama2.c's text.

// attacker is a worker that joined with the cluster's join token (any tab
// the operator's worker link reaches can) and turned hostile: it has the
// credentials its join issued, and nothing else.
type attacker struct {
	id   string
	nc   *nats.Conn
	subj bus.Subjects

	mu     sync.Mutex
	denied []string // the server's permission violations, as reported
}

// joinAttacker joins through the coordinator at url over the HTTP API and
// connects to NATS with the credentials the join issued.
func joinAttacker(t *testing.T, ctx context.Context, c *Cluster, url string) *attacker {
	t.Helper()
	key, err := bus.NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	req := &tabshardv1.JoinRequest{Name: "mallory", UserNkey: key.PublicKey(),
		Capabilities: &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU, MemoryBudgetBytes: 1 << 30, CpuCores: 1}}
	reply := &tabshardv1.JoinReply{}
	if status, err := postJoin(ctx, url, c.JoinToken(), req, reply); err != nil || status != http.StatusOK {
		t.Fatalf("attacker's join: %d, %v", status, err)
	}
	a := &attacker{id: reply.GetWorkerId(), subj: bus.Subjects{Cluster: clusterName}}
	a.nc, err = c.BusConn(nats.Name("mallory"), bus.NewCredentials(key, reply.GetUserJwt()).Option(),
		nats.CustomInboxPrefix(reply.GetInboxPrefix()),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			a.mu.Lock()
			a.denied = append(a.denied, err.Error())
			a.mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("attacker's connection with its own credentials: %v", err)
	}
	t.Cleanup(a.nc.Close)
	return a
}

// postJoin posts a join to url's /api/join with token as bearer token.
func postJoin(ctx context.Context, url, token string, req *tabshardv1.JoinRequest, reply *tabshardv1.JoinReply) (int, error) {
	body, err := protojson.Marshal(req)
	if err != nil {
		return 0, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/join", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, protojson.Unmarshal(b, reply)
}

// wasDenied waits up to 2s for a permission violation naming subject.
func (a *attacker) wasDenied(subject string) bool {
	for range 100 {
		a.mu.Lock()
		for _, d := range a.denied {
			if strings.Contains(strings.ToLower(d), "permissions violation") && strings.Contains(d, `"`+subject+`"`) {
				a.mu.Unlock()
				return true
			}
		}
		a.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// rejected reads tabshard_rejected_messages_total{reason} off url/metrics.
func rejected(t *testing.T, url, reason string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf("tabshard_rejected_messages_total{reason=%q} ", reason)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			var n float64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// spy reads every message on the bus with a coordinator's credentials and
// remembers whether one held needle.
type spy struct {
	msgs  atomic.Int64
	found atomic.Bool
}

func watchBus(t *testing.T, c *Cluster, needle string) *spy {
	t.Helper()
	s := &spy{}
	sub, err := c.nc.Subscribe(">", func(m *nats.Msg) {
		s.msgs.Add(1)
		if bytes.Contains(m.Data, []byte(needle)) || strings.Contains(m.Subject, needle) || strings.Contains(fmt.Sprint(m.Header), needle) {
			s.found.Store(true)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return s
}

// follower is the URL of a coordinator that does not lead.
func follower(t *testing.T, c *Cluster) string {
	t.Helper()
	for _, co := range c.Coordinators() {
		if !co.IsLeader() {
			return co.HTTPURL()
		}
	}
	t.Fatal("no follower")
	return ""
}

func TestAdversarialBus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := Options{Seed: 60}
	if raceEnabled {
		opts.Lease = 750 * time.Millisecond
	}
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	leaderURL := c.Leader().HTTPURL()

	// Finding 6: the join token never travels on the bus. A follower
	// forwards the attacker's join to the leader over the bus; a spy with
	// a coordinator's credentials reads everything meanwhile.
	watch := watchBus(t, c, c.JoinToken())
	a := joinAttacker(t, ctx, c, follower(t, c))
	t.Logf("attacker joined as %s", a.id)

	// Finding 5, second layer: an announcement that does come from a
	// coordinator's credentials (misconfigured, or compromised) but names a
	// model on another origin is not followed.
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { evilHits.Add(1) }))
	defer evil.Close()
	st := c.State()
	if err := bus.Publish(c.nc, bus.Subjects{Cluster: clusterName}.Epoch(), &tabshardv1.EpochAnnouncement{
		Epoch: st.GetEpoch(), Plan: st.GetPlan(), ModelUrl: evil.URL + "/model/stories260K"}); err != nil {
		t.Fatal(err)
	}

	// Finding 8: a flood of activations stamped with a far-future epoch,
	// at stage 1, under the attacker's own id (its credentials allow
	// that subject; the buffer for future epochs is bounded).
	target, err := c.Primary(1)
	if err != nil {
		t.Fatal(err)
	}
	// (Flooded again while it drops too few: a worker that a late
	// heartbeat got fenced rejoins with a fresh buffer.)
	const flood = 400
	for round := 0; round < 5 && target.Metrics.DroppedActivations.Load() < flood-agent.DefaultMaxHeld; round++ {
		for i := range flood {
			f := &tabshardv1.Activation{SessionId: "s1", Epoch: st.GetEpoch() + 1000, Stage: 1, FirstPosition: uint32(i), TokenCount: 1,
				Dtype: tabshardv1.DType_D_TYPE_F32, Shape: []uint32{1, 4096}, Payload: make([]byte, 16<<10), ProducerWorkerId: a.id}
			if err := bus.Publish(a.nc, a.subj.Activation("s1", 1, a.id), f); err != nil {
				t.Fatal(err)
			}
		}
		_ = a.nc.Flush()
		time.Sleep(300 * time.Millisecond) // for the worker to read them
	}

	// Finding 7: a killed worker's heartbeats forged while its lease runs
	// out. A standby: its failover does not touch the text.
	victim, err := c.Standby(0)
	if err != nil {
		t.Fatal(err)
	}
	victimID := victim.ID()
	c.Kill(victim)
	killed := time.Now()

	// The honest clients stream while the attacker keeps at it.
	played := make(chan struct{})
	var out *Outcome
	var playErr error
	go func() {
		defer close(played)
		sc := Scenario{Options: c.opts}
		for _, o := range oracles(t) {
			sc.Requests = append(sc.Requests, o.Request)
		}
		out, playErr = c.Play(ctx, sc)
	}()
	attacks := 0
	for done := false; !done; attacks++ {
		st := c.State()
		stages := st.GetPlan().GetStages()
		last := stages[len(stages)-1].GetDeviceId()
		// Finding 3: a token in the last stage's name, on the attacker's
		// own subject (rejected as forged) and on the last stage's
		// (refused by the server).
		for _, s := range st.GetSessions() {
			tok := &tabshardv1.Token{SessionId: s.GetId(), Epoch: st.GetEpoch(), Position: state.NextPosition(s), Id: 7, ProducerWorkerId: last}
			_ = bus.Publish(a.nc, a.subj.Token(a.id), tok)
			_ = bus.Publish(a.nc, a.subj.Token(last), tok)
			// The next step sent to the first stage, as the last stage
			// sends it, in the attacker's own name (rejected: not the last
			// stage's primary) and in the last stage's (refused by the
			// server).
			next := &tabshardv1.Activation{SessionId: s.GetId(), Epoch: st.GetEpoch(), Stage: 0, FirstPosition: state.NextPosition(s), TokenCount: 1,
				Tokens: []uint32{7}, Sampling: &tabshardv1.Sampling{EndPosition: 1000}, ProducerWorkerId: a.id}
			_ = bus.Publish(a.nc, a.subj.Activation(s.GetId(), 0, a.id), next)
			next.ProducerWorkerId = last
			_ = bus.Publish(a.nc, a.subj.Activation(s.GetId(), 0, last), next)
		}
		// Finding 7.
		hb := &tabshardv1.Heartbeat{WorkerId: victimID, Epoch: st.GetEpoch(), LoadedStage: 0}
		_ = bus.Publish(a.nc, a.subj.Heartbeat(a.id), hb)
		_ = bus.Publish(a.nc, a.subj.Heartbeat(victimID), hb)
		// Findings 4 and 5: an announcement 1000 epochs ahead, with the
		// attacker's model.
		_ = bus.Publish(a.nc, a.subj.Epoch(), &tabshardv1.EpochAnnouncement{Epoch: st.GetEpoch() + 1000, Plan: st.GetPlan(), ModelUrl: evil.URL + "/model/stories260K"})
		// Finding 9: a session started on the bus.
		_ = bus.Publish(a.nc, a.subj.StartSession(), &tabshardv1.StartSession{Session: &tabshardv1.Session{Prompt: []uint32{1, 2, 3}}})
		// An input to stage 1 in the name of stage 0's primary.
		_ = bus.Publish(a.nc, a.subj.Activation("s1", 1, stages[0].GetDeviceId()), &tabshardv1.Activation{SessionId: "s1", Stage: 1, TokenCount: 1, ProducerWorkerId: stages[0].GetDeviceId()})
		select {
		case <-played:
			done = true
		case <-time.After(100 * time.Millisecond): // ten rounds a second: an attack, not a load test
		}
	}
	// The stream may end before the victim's lease does (batched stages
	// are quick): its heartbeats go on being forged until it is expired.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); attacks++ {
		if m := state.Member(c.State(), victimID); m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
			break
		}
		hb := &tabshardv1.Heartbeat{WorkerId: victimID, Epoch: c.State().GetEpoch(), LoadedStage: 0}
		_ = bus.Publish(a.nc, a.subj.Heartbeat(a.id), hb)
		_ = bus.Publish(a.nc, a.subj.Heartbeat(victimID), hb)
		time.Sleep(50 * time.Millisecond)
	}
	if playErr != nil {
		t.Fatal(playErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			printTimeline(t, out)
		}
	})
	for i, o := range oracles(t) {
		checkResult(t, out, out.Results[i], o)
	}
	t.Logf("%d rounds of attacks during the stream", attacks)

	// Finding 1 (for a joined worker): it cannot read the control
	// subjects, another worker's replies, or everything.
	for _, subject := range []string{">", a.subj.Control(), a.subj.InboxPrefix(target.ID()) + ".>", a.subj.Heartbeats()} {
		if _, err := a.nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		if !a.wasDenied(subject) {
			t.Errorf("the attacker subscribed to %s without a permissions violation", subject)
		}
	}
	denied := map[string]string{
		"3 (token in the last stage's name)": a.subj.Token(out.Final.GetPlan().GetStages()[len(out.Final.GetPlan().GetStages())-1].GetDeviceId()),
		"4 and 5 (epoch announcement)":       a.subj.Epoch(),
		"7 (the killed worker's heartbeat)":  a.subj.Heartbeat(victimID),
		"9 (ctl.start)":                      a.subj.StartSession(),
	}
	for finding, subject := range denied {
		if !a.wasDenied(subject) {
			t.Errorf("finding %s: publishing on %s was not refused by the server", finding, subject)
		}
	}
	lead := c.Leader()
	if lead != nil {
		leaderURL = lead.HTTPURL()
	}
	if n := rejected(t, leaderURL, "forged token"); n == 0 {
		t.Errorf("finding 3: the leader counted no forged token")
	}
	if n := rejected(t, leaderURL, "forged heartbeat"); n == 0 {
		t.Errorf("finding 7: the leader counted no forged heartbeat")
	}
	if m := state.Member(c.State(), victimID); m.GetState() == tabshardv1.MemberState_MEMBER_STATE_ACTIVE {
		t.Errorf("finding 7: killed worker %s still active %v after its kill, its heartbeats forged", victimID, time.Since(killed))
	}
	if e := out.Final.GetEpoch(); e >= 1000 {
		t.Errorf("finding 4: epoch %d", e)
	}
	if n := len(out.Final.GetSessions()); n != len(out.Results) {
		t.Errorf("finding 9: %d sessions, want the %d honest ones", n, len(out.Results))
	}
	if first, err := c.Primary(0); err != nil || first.Metrics.RejectedActivations.Load() == 0 {
		t.Errorf("the first stage's primary rejected no step sent in the attacker's name (%v)", err)
	}
	if d := target.Metrics.DroppedActivations.Load(); d < flood-agent.DefaultMaxHeld {
		t.Errorf("finding 8: stage 1's primary dropped %d of %d future-epoch inputs (it holds at most %d)", d, flood, agent.DefaultMaxHeld)
	}
	var refused uint64
	for _, w := range c.Workers() {
		refused += w.Metrics.RejectedModelURLs.Load()
	}
	if refused == 0 || evilHits.Load() != 0 {
		t.Errorf("finding 5: %d announced model URLs refused, %d requests reached the attacker's server", refused, evilHits.Load())
	}
	// Nor is it, or the cluster secret, in /api/state.
	if resp, err := http.Get(leaderURL + "/api/state"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte(c.JoinToken())) || bytes.Contains(b, []byte("cluster_secret")) {
			t.Errorf("/api/state shows the cluster's secrets")
		}
	} else {
		t.Error(err)
	}
	if watch.msgs.Load() == 0 || watch.found.Load() {
		t.Errorf("finding 6: the spy read %d messages; the join token among them: %v", watch.msgs.Load(), watch.found.Load())
	}
}

// TestBusRefusesAnonymousAndForeignOrigins: findings 1 and 2 against a
// coordinator's embedded NATS server (TCP and WebSocket).
func TestBusRefusesAnonymousAndForeignOrigins(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, trans := raft.NewInmemTransport("inmem-solo")
	cfg := coordinator.DefaultConfig()
	cfg.HTTPAddr, cfg.NATSPort, cfg.NATSWebSocketPort, cfg.RaftTransport, cfg.RaftTimeouts = "127.0.0.1:0", 0, 0, trans, 200*time.Millisecond
	cfg.AllowOrigins = []string{"https://tabs.example"}
	co, err := coordinator.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	for _, url := range []string{co.NATSURL(), co.NATSWebSocketURL()} {
		nc, err := nats.Connect(url, nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
			t.Errorf("finding 1: an anonymous client connected to %s", url)
		} else if strings.HasPrefix(url, "nats:") && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			// (Over WebSocket, the server's close may reach the client
			// before its error does.)
			t.Errorf("finding 1: anonymous connection to %s: %v, want an authorization violation", url, err)
		}
	}
	for origin, want := range map[string]int{
		"http://evil.example":  http.StatusForbidden,
		"https://tabs.example": http.StatusSwitchingProtocols,
		co.HTTPURL():           http.StatusSwitchingProtocols,
	} {
		if got := upgrade(t, co.NATSWebSocketURL(), origin); got != want {
			t.Errorf("finding 2: WebSocket upgrade with Origin %s: %d, want %d", origin, got, want)
		}
	}
	// The join token is refused on the wire before anything else.
	reply := &tabshardv1.JoinReply{}
	key, _ := bus.NewUserKey()
	if status, _ := postJoin(ctx, co.HTTPURL(), "not-the-token", &tabshardv1.JoinRequest{UserNkey: key.PublicKey()}, reply); status != http.StatusUnauthorized {
		t.Errorf("join with a wrong token: %d, want 401", status)
	}
}

// upgrade asks the WebSocket listener at wsURL for an upgrade from a page
// of origin, and returns the status.
func upgrade(t *testing.T, wsURL, origin string) int {
	t.Helper()
	host := strings.TrimPrefix(wsURL, "ws://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n", host, origin)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOneJoinTokenAcrossLeaders: finding 12. Three coordinators started
// with no token agree on the one their first leader made; a worker fenced
// under one leader rejoins under the next instead of being told "wrong
// join token".
func TestOneJoinTokenAcrossLeaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := Options{Seed: 61, NoJoinToken: true, Stages: 2, Standbys: 1}
	if raceEnabled {
		opts.Lease = 750 * time.Millisecond
	}
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	token := c.JoinToken()
	for _, co := range c.Coordinators() {
		kept, err := os.ReadFile(filepath.Join(c.dir, co.NodeID(), "join-token"))
		if co.JoinToken() != token || token == "" || err != nil || strings.TrimSpace(string(kept)) != token {
			t.Errorf("coordinator %s has token %q (kept: %q, %v), want the cluster's %q", co.NodeID(), co.JoinToken(), kept, err, token)
		}
	}
	w, err := c.Primary(1)
	if err != nil {
		t.Fatal(err)
	}
	oldID := w.ID()
	c.Partition(w)
	if err := waitFor(ctx, func() bool {
		return state.Member(c.State(), oldID).GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE
	}); err != nil {
		t.Fatalf("partitioned %s never expired: %v", oldID, err)
	}
	if _, err := c.KillLeader(); err != nil {
		t.Fatal(err)
	}
	c.Heal(w)
	if err := waitFor(ctx, func() bool { return len(w.IDs()) > 1 }); err != nil {
		t.Fatalf("fenced worker %s did not rejoin after the leader changed: %v (ids %v)", oldID, err, w.IDs())
	}
	for _, e := range c.tl.Entries() {
		if strings.Contains(e.Text, "join refused") || strings.Contains(e.Text, "wrong join token") {
			t.Errorf("timeline: %s", e.Text)
		}
	}
	sc := Scenario{Options: c.opts}
	want := oracles(t)[:1]
	sc.Requests = []Request{want[0].Request}
	out, err := c.Play(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, out, out.Results[0], want[0])
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// TestCredentialsRenewed: workers' bus credentials expire (here after 3 s)
// and are renewed over the HTTP API; when the server closes a connection
// at its JWT's expiry, the worker reconnects with the renewed one and keeps
// its id, and the text stays llama2.c's.
func TestCredentialsRenewed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ttl = 3 * time.Second
	c, err := Start(ctx, Options{Seed: 62, CredentialTTL: ttl, Lease: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ids := map[*Worker]string{}
	for _, w := range c.Workers() {
		ids[w] = w.ID()
	}
	// Past every first JWT's expiry.
	if err := sleep(ctx, ttl+time.Second); err != nil {
		t.Fatal(err)
	}
	sc := Scenario{Options: c.opts}
	want := oracles(t)
	for _, o := range want {
		sc.Requests = append(sc.Requests, o.Request)
	}
	out, err := c.Play(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range want {
		checkResult(t, out, out.Results[i], o)
	}
	for w, id := range ids {
		if n := w.Metrics.Renewals.Load(); n == 0 {
			t.Errorf("worker %s never renewed its credentials", id)
		}
		if m := state.Member(out.Final, id); m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE || w.ID() != id {
			t.Errorf("worker %s is %s (now %s) after its first credentials expired", id, m.GetState(), w.ID())
		}
	}
}

// TestCoordinatorJoinsOverHTTP: `up --join URL` asks a running cluster,
// through a coordinator's HTTP API and with the join token, to add it to
// Raft; it then holds the cluster's secrets. A wrong token is refused at
// once.
func TestCoordinatorJoinsOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Seed: 63, Stages: 1, Standbys: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	join := func(id, token string) (*coordinator.Coordinator, error) {
		addr := "inmem-" + id
		_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
		c.mu.Lock()
		for _, s := range c.coords {
			if s.trans != nil {
				trans.Connect(raft.ServerAddress(s.addr), s.trans)
				s.trans.Connect(raft.ServerAddress(addr), trans)
			}
		}
		c.mu.Unlock()
		return coordinator.Start(ctx, coordinator.Config{
			NodeID: id, Cluster: clusterName, JoinToken: token, RaftJoin: follower(t, c), RaftTransport: trans, RaftTimeouts: c.opts.RaftTimeouts,
			HTTPAddr: "127.0.0.1:0", NATSURL: c.nats.ClientURL(), NATSAccountSeed: c.seed,
			Heartbeat: c.opts.Heartbeat, Lease: c.opts.Lease, StepTimeout: c.opts.StepTimeout, MinWorkers: c.opts.Workers, Stages: 1,
			Logger: c.log.With("coordinator", id),
		})
	}
	if co, err := join("c8", "not-the-token"); err == nil {
		co.Close()
		t.Fatal("a coordinator with a wrong join token joined")
	} else if !strings.Contains(err.Error(), "wrong join token") {
		t.Errorf("wrong token: %v", err)
	}
	co, err := join("c9", c.JoinToken())
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.JoinToken() != c.JoinToken() {
		t.Errorf("the joined coordinator has token %q, the cluster %q", co.JoinToken(), c.JoinToken())
	}
	if err := waitFor(ctx, func() bool { return co.State().GetEpoch() == c.State().GetEpoch() && co.State().GetEpoch() > 0 }); err != nil {
		t.Errorf("the joined coordinator did not catch up: epoch %d, cluster %d", co.State().GetEpoch(), c.State().GetEpoch())
	}
}
