package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/state"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// TestAdversarialAPI plays the HTTP findings of issue 11 (10, 11 and 13)
// against a three-coordinator cluster whose workers read the model from a
// model server of another origin, while a legitimate client streams
// llama2.c's greedy story: another client reading the session (SSE and
// WebSocket, at every coordinator), guessed session ids, /api/state
// without an admin key, a foreign Host, a form post, Range widening and
// If-Range at the model server, the coordinators' own /model. Each is
// refused with a clear error, and the client's text is llama2.c's. Then
// the client resumes its finished session at every coordinator with its
// resume token, and the session's activation log is purged once its
// retention has passed, not before.
func TestAdversarialAPI(t *testing.T) {
	const retention = 3 * time.Second
	oracle, err := GreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	ms := startModelServer(t, modelKey, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := Options{Seed: 110, ModelServerURL: ms.URL, ModelKey: modelKey, SessionRetention: retention}
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

	cl := &client{urls: c.clientURLs(false, ""), http: &http.Client{}, stall: 10 * time.Second, tl: c.tl}
	defer cl.http.CloseIdleConnections()
	session, finish := streamInBackground(t, ctx, cl, oracle.Request)

	t.Run("session ids are not guessable", func(t *testing.T) { checkSessionID(t, session) })
	t.Run("another client reads the session", func(t *testing.T) { readOthersSession(t, c, session) })
	t.Run("guessed ids", func(t *testing.T) { guessIDs(t, c, session) })
	t.Run("state without admin key", func(t *testing.T) { stateHasNoContent(t, c, session) })
	t.Run("foreign Host and form posts", func(t *testing.T) { crossSiteRequests(t, c) })
	t.Run("Range widening", func(t *testing.T) { widenRanges(t, c, ms) })
	t.Run("coordinator model file", func(t *testing.T) { coordinatorModelOff(t, c) })

	res := finish()
	if res.Text != oracle.Text || len(res.Violations) > 0 {
		t.Fatalf("the legitimate client's text changed under attack (violations %v)\n got: %q\nwant: %q", res.Violations, res.Text, oracle.Text)
	}
	if n := logCount(t, ctx, c, res.Session); n == 0 {
		t.Fatalf("session %s has no logged activations right after it ended (retention %v)", res.Session, retention)
	} else {
		t.Logf("session %s: %d logged activations when it ended", res.Session, n)
	}
	if s := state.Session(c.State(), res.Session); s == nil || len(s.GetOwnerKeyHash()) != 0 || len(s.GetResumeTokenHash()) != 32 {
		t.Errorf("session %s in the replicated state: %v; want the SHA-256 of its resume token and no key hash (no API keys)", res.Session, s)
	}

	// Within its retention, the creator resumes at every coordinator.
	for _, u := range c.URLs() {
		text, err := sseText(ctx, u+"/v1/sessions/"+res.Session+"/events", "X-Tabshard-Resume-Token", res.ResumeToken)
		if err != nil || text != oracle.Text {
			t.Errorf("the creator resuming at %s: %q, %v; want llama2.c's text", u, text, err)
		}
	}
	checkPurge(t, ctx, c, res.Session, retention)
}

func checkSessionID(t *testing.T, id string) {
	if len(id) < 26 || strings.HasPrefix(id, "s") && strings.Trim(id[1:], "0123456789") == "" {
		t.Errorf("session id %q: want 128 random bits or more, not a counter", id)
	}
}

// readOthersSession: without the session's resume token (or with a wrong
// one), no coordinator serves its events or its WebSocket.
func readOthersSession(t *testing.T, c *Cluster, session string) {
	for _, u := range c.URLs() {
		for _, h := range [][]string{nil, {"X-Tabshard-Resume-Token", strings.Repeat("A", 26)}, {"Last-Event-ID", "0"}, {"Authorization", "Bearer sk-guess"}} {
			for _, path := range []string{"/v1/sessions/" + session + "/events", "/v1/sessions/cmpl-" + session + "/events", "/v1/sessions/" + session + "/ws"} {
				expectRefusal(t, "GET", u+path, "", 403, "session_forbidden", h...)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u, "http")+"/v1/sessions/"+session+"/ws?resume_token=nope", nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("%s: WebSocket upgrade with a wrong token: %v %v, want 403", u, err, resp)
		}
	}
}

// guessIDs: the ids of a counter, and the live id with a character
// changed, name no session.
func guessIDs(t *testing.T, c *Cluster, session string) {
	near := session[:len(session)-1] + string("ab"[boolIndex(session[len(session)-1] == 'a')])
	for _, u := range c.URLs() {
		for _, id := range []string{"s1", "s2", "cmpl-s1", "chatcmpl-s3", near} {
			expectRefusal(t, "GET", u+"/v1/sessions/"+id+"/events", "", 404, "session_not_found")
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stateHasNoContent: /api/state at every coordinator names the session but
// shows none of its prompt, tokens or sampler state, which the replicated
// state does hold.
func stateHasNoContent(t *testing.T, c *Cluster, session string) {
	if s := state.Session(c.State(), session); len(s.GetPrompt()) == 0 || s.GetSampling() == nil {
		t.Fatalf("the replicated session %v has no content to hide", s)
	}
	for _, u := range c.URLs() {
		resp, err := http.Get(u + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		st := &tabshardv1.ClusterState{}
		if err := protojson.Unmarshal(b, st); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s/api/state: %d %v", u, resp.StatusCode, err)
		}
		s := state.Session(st, session)
		if s == nil {
			t.Errorf("%s/api/state does not list session %s", u, session)
			continue
		}
		if len(s.GetPrompt())+len(s.GetGenerated())+len(s.GetStopTokens()) > 0 || s.GetSampling() != nil || len(s.GetResumeTokenHash()) > 0 {
			t.Errorf("%s/api/state shows session content without an admin key: %v", u, s)
		}
	}
}

// crossSiteRequests: what a page of another site can make a browser send
// (a rebound DNS name in Host, a form post) starts nothing.
func crossSiteRequests(t *testing.T, c *Cluster) {
	before := len(c.State().GetSessions())
	body := `{"prompt": "Once upon a time", "max_tokens": 4}`
	for _, u := range c.URLs() {
		expectRefusal(t, "GET", u+"/api/state", "", 421, "host_not_allowed", "Host", "rebind.evil.example")
		expectRefusal(t, "POST", u+"/v1/completions", body, 421, "host_not_allowed", "Host", "rebind.evil.example:8080", "Content-Type", "application/json")
		expectRefusal(t, "POST", u+"/v1/completions", "prompt=Once+upon+a+time", 415, "unsupported_media_type", "Content-Type", "application/x-www-form-urlencoded")
		expectRefusal(t, "POST", u+"/v1/chat/completions", body, 415, "unsupported_media_type", "Content-Type", "text/plain")
	}
	if after := len(c.State().GetSessions()); after != before {
		t.Errorf("refused requests started %d sessions", after-before)
	}
}

// widenRanges: with a grant for one stage, ranges that add up past the
// file or an If-Range that does not match are refused by the model
// server, never answered with the whole file.
func widenRanges(t *testing.T, c *Cluster, ms *modelServer) {
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	signer, _ := modelauth.NewSigner(modelKey)
	stage := c.State().GetPlan().GetStages()[1]
	is := &modelauth.Issuer{Signer: signer, File: m.File, URL: ms.URL}
	g := is.Issue(1, worker.Range{Begin: int(stage.GetLayerBegin()), End: int(stage.GetLayerEnd())})
	first := g.Ranges[0]
	one := fmt.Sprintf("%d-%d", first[0], first[0]+1023)
	size := len(bundled.Bytes())
	many := "bytes=" + strings.TrimSuffix(strings.Repeat(one+",", size/1024+2), ",")
	expectRefusal(t, "GET", g.URL, "", 403, "request_not_allowed", "Range", many)
	expectRefusal(t, "GET", g.URL, "", 403, "request_not_allowed", "Range", "bytes="+one, "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT")
	expectRefusal(t, "GET", g.URL, "", 403, "request_not_allowed", "Range", "bytes="+one, "If-Range", `"etag"`)
	req, _ := http.NewRequest("GET", g.URL, nil)
	req.Header.Set("Range", "bytes="+one)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || len(b) != 1024 {
		t.Errorf("a granted range: %d, %d bytes; want 206 with 1024", resp.StatusCode, len(b))
	}
}

// coordinatorModelOff: with a model server, no coordinator serves the
// model's bytes itself.
func coordinatorModelOff(t *testing.T, c *Cluster) {
	for _, u := range c.URLs() {
		expectRefusal(t, "GET", u+"/model/stories260K", "", 403, "model_served_elsewhere")
		expectRefusal(t, "GET", u+"/model/stories260K", "", 403, "model_served_elsewhere", "Range", "bytes=0-1023")
	}
}

// expectRefusal sends a request (headers as name, value pairs) and wants
// an OpenAI-shaped error with status and code, and a message.
func expectRefusal(t *testing.T, method, url, body string, status int, code string, headers ...string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct{ Message, Code string }
	}
	if json.Unmarshal(b, &e) != nil || resp.StatusCode != status || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s %s %v: %d %.300s; want %d %s", method, url, headers, resp.StatusCode, b, status, code)
	}
}

// sseText reads a whole event stream and returns its text.
func sseText(ctx context.Context, url string, headers ...string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return text.String(), nil
		}
		var ch sseChunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil || len(ch.Choices) != 1 {
			return text.String(), fmt.Errorf("event %q: %v", data, err)
		}
		text.WriteString(ch.Choices[0].Text)
	}
	return text.String(), fmt.Errorf("the stream ended without [DONE]: %v", sc.Err())
}

// logCount counts the session's messages in the activation log.
func logCount(t *testing.T, ctx context.Context, c *Cluster, session string) uint64 {
	t.Helper()
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, bus.StreamName(clusterName))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.Subjects{Cluster: clusterName}.SessionActivations(session)))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, k := range info.State.Subjects {
		n += k
	}
	return n
}

// checkPurge: the session's log is gone once its retention has passed
// since the end the leader committed (the coordinators run on the wall
// clock), and not before.
func checkPurge(t *testing.T, ctx context.Context, c *Cluster, session string, retention time.Duration) {
	ended := time.UnixMilli(state.Session(c.State(), session).GetEndedUnixMs())
	for logCount(t, ctx, c, session) > 0 {
		if time.Since(ended) > retention+15*time.Second {
			t.Fatalf("session %s's activation log still holds %d messages %v after it ended (retention %v)",
				session, logCount(t, ctx, c, session), time.Since(ended).Round(time.Millisecond), retention)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone := time.Since(ended); gone < retention {
		t.Errorf("session %s's activation log was purged %v after it ended, before its retention of %v", session, gone, retention)
	} else {
		t.Logf("session %s's activation log purged %v after it ended (retention %v)", session, gone.Round(time.Millisecond), retention)
	}
}

// TestAdversarialAPIKeys: with API keys, the key that started a session
// reads it at every coordinator (the replicated record holds its hash);
// another client's key does not, a request without a key starts nothing,
// and only an admin key sees session content in /api/state. The
// legitimate client's text is llama2.c's.
func TestAdversarialAPIKeys(t *testing.T) {
	const alice, bob, admin = "alice-0123456789abcdef", "bob-0123456789abcdef", "admin-0123456789abcdef"
	apiKeys, err := api.ParseKeys(strings.NewReader("alice "+alice+"\nbob "+bob+"\n"), "api keys")
	if err != nil {
		t.Fatal(err)
	}
	adminKeys, err := api.ParseKeys(strings.NewReader(admin), "admin keys")
	if err != nil {
		t.Fatal(err)
	}
	oracle, err := GreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := Options{Seed: 111, APIKeys: apiKeys, AdminKeys: adminKeys}
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
	cl := &client{urls: c.clientURLs(false, ""), http: &http.Client{}, stall: 10 * time.Second, tl: c.tl, apiKey: alice}
	defer cl.http.CloseIdleConnections()
	session, finish := streamInBackground(t, ctx, cl, oracle.Request)
	before := len(c.State().GetSessions())
	body := `{"prompt": "Once upon a time", "max_tokens": 4}`
	for _, u := range c.URLs() {
		events := u + "/v1/sessions/" + session + "/events"
		expectRefusal(t, "GET", events, "", 403, "session_forbidden", "Authorization", "Bearer "+bob)
		expectRefusal(t, "GET", events, "", 403, "session_forbidden")
		expectRefusal(t, "GET", u+"/v1/sessions/"+session+"/ws", "", 403, "session_forbidden", "Authorization", "Bearer "+bob)
		expectRefusal(t, "POST", u+"/v1/completions", body, 401, "invalid_api_key", "Content-Type", "application/json")
		expectRefusal(t, "POST", u+"/v1/completions", body, 401, "invalid_api_key", "Content-Type", "application/json", "Authorization", "Bearer "+alice+"!")
		expectRefusal(t, "GET", u+"/v1/models", "", 401, "invalid_api_key")
		expectRefusal(t, "GET", u+"/api/state", "", 401, "invalid_api_key", "Authorization", "Bearer "+admin+"!")
		if s := apiState(t, u, ""); s == nil || len(s.GetPrompt()) > 0 {
			t.Errorf("%s/api/state without a key: session %v, want it without its prompt", u, s)
		}
		if s := apiState(t, u, admin); s == nil || len(s.GetPrompt()) == 0 {
			t.Errorf("%s/api/state with the admin key: session %v, want its prompt", u, s)
		}
	}
	if after := len(c.State().GetSessions()); after != before {
		t.Errorf("requests without a valid key started %d sessions", after-before)
	}
	res := finish()
	if res.Text != oracle.Text || len(res.Violations) > 0 {
		t.Fatalf("the legitimate client's text changed (violations %v)\n got: %q\nwant: %q", res.Violations, res.Text, oracle.Text)
	}
	for _, u := range c.URLs() {
		for _, key := range []string{alice, admin} {
			text, err := sseText(ctx, u+"/v1/sessions/"+res.Session+"/events", "Authorization", "Bearer "+key)
			if err != nil || text != oracle.Text {
				t.Errorf("reading the session at %s with key %.5s…: %q, %v; want llama2.c's text", u, key, text, err)
			}
		}
	}
}

// apiState is the first session that url's /api/state lists, as it
// shows it to key ("" for none).
func apiState(t *testing.T, url, key string) *tabshardv1.Session {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/state", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	st := &tabshardv1.ClusterState{}
	if err := protojson.Unmarshal(b, st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s/api/state: %d %v", url, resp.StatusCode, err)
	}
	if ss := st.GetSessions(); len(ss) > 0 {
		return ss[0]
	}
	return nil
}

// streamInBackground starts cl streaming req and returns its session once
// the first token came, and a function that waits for the stream's end
// (failing the test if it broke).
func streamInBackground(t *testing.T, ctx context.Context, cl *client, req Request) (string, func() *Result) {
	t.Helper()
	started := make(chan string, 1)
	var once sync.Once
	var res *Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = cl.stream(ctx, req, func(ev Event) { once.Do(func() { started <- ev.Session }) })
	}()
	select {
	case session := <-started:
		return session, func() *Result {
			<-done
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	case <-done:
		t.Fatalf("the stream ended before its first token: %v", err)
		return "", nil
	}
}
