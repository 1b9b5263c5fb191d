package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tabshard/tabshard/coordinator/api"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

const (
	aliceKey = "alice-key-0123456789abcdef"
	bobKey   = "bob-key-0123456789abcdef"
	adminKey = "admin-key-0123456789abcdef"
)

func keys(t *testing.T, text string) *api.KeySet {
	t.Helper()
	ks, err := api.ParseKeys(strings.NewReader(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// stranger sends requests as another client: no creator's resume token is
// added (see creatorTransport).
func (e *env) stranger(t *testing.T, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func wantError(t *testing.T, what string, resp *http.Response, status int, code string) openAIError {
	t.Helper()
	var got openAIError
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != status || got.code() != code || got.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d %s", what, resp.StatusCode, body, status, code)
	}
	return got
}

// A session is read by its creator only: the resume token (header or
// query) or the API key that started it; anyone else gets 403, a guessed
// id 404, over SSE and WebSocket alike.
func TestSessionPrivacy(t *testing.T) {
	e := newEnv(t)
	want := continuation(t, e.b, storyPrompt, storyRest)
	resp := e.post(t, "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","stream":true}`)
	sid, token := resp.Header.Get("X-Tabshard-Session"), resp.Header.Get("X-Tabshard-Resume-Token")
	evs := newSSEReader(resp.Body).all(t)
	if got := checkEvents(t, evs, 0, "text_completion"); got != want || token == "" || len(token) < 22 {
		t.Fatalf("creator's stream %q (token %q), want %q", got, token, want)
	}
	var first, second struct {
		ResumeToken *string `json:"resume_token"`
	}
	json.Unmarshal([]byte(evs[0].Data), &first)
	json.Unmarshal([]byte(evs[1].Data), &second)
	if first.ResumeToken == nil || *first.ResumeToken != token || second.ResumeToken != nil {
		t.Errorf("resume token in the first chunk %v and the second %v, want %q in the first only", first.ResumeToken, second.ResumeToken, token)
	}

	events := "/v1/sessions/" + sid + "/events"
	for _, c := range []struct {
		what, path string
		headers    []string
	}{
		{"no token", events, nil},
		{"a wrong token", events, []string{"X-Tabshard-Resume-Token: " + strings.Repeat("A", len(token))}},
		{"a wrong token in the query", events + "?resume_token=nope", nil},
		{"a chat id, no token", "/v1/sessions/chatcmpl-" + sid + "/events", nil},
		{"the WebSocket, no token", "/v1/sessions/" + sid + "/ws", nil},
		{"an API key (none configured)", events, []string{"Authorization: Bearer " + aliceKey}},
	} {
		wantError(t, c.what, e.stranger(t, "GET", c.path, "", c.headers...), http.StatusForbidden, "session_forbidden")
	}
	wantError(t, "a guessed id", e.stranger(t, "GET", "/v1/sessions/s1x/events", ""), http.StatusNotFound, "session_not_found")

	for _, c := range []struct {
		what, path string
		headers    []string
	}{
		{"token header", events, []string{"X-Tabshard-Resume-Token: " + token}},
		{"token query", events + "?resume_token=" + token, nil},
	} {
		resp := e.stranger(t, "GET", c.path, "", c.headers...)
		if got := checkEvents(t, newSSEReader(resp.Body).all(t), 0, "text_completion"); got != want {
			t.Errorf("%s: %q, want %q", c.what, got, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/sessions/" + sid + "/ws"
	if _, resp, err := websocket.Dial(ctx, ws, nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("WebSocket without the token: %v, %v; want 403", err, resp)
	}
	c, _, err := websocket.Dial(ctx, ws+"?resume_token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if msgs, status := readMessages(t, ctx, c, -1); wsText(msgs) != want || status != websocket.StatusNormalClosure {
		t.Errorf("WebSocket with the token: %q (%v), want %q", wsText(msgs), status, want)
	}
}

// With API keys, /v1/ needs one; a session is readable with the key that
// started it (or its resume token, or an admin key), not with another.
func TestAPIKeys(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.APIKeys = keys(t, "alice "+aliceKey+"\n# a comment\n\nbob "+bobKey+"\n")
		o.AdminKeys = keys(t, adminKey)
	})
	want := continuation(t, e.b, storyPrompt, storyRest)
	body := `{"model":"stories260K","prompt":"Once upon a time"}`
	wantError(t, "no key", e.stranger(t, "POST", "/v1/completions", body), http.StatusUnauthorized, "invalid_api_key")
	wantError(t, "a wrong key", e.stranger(t, "POST", "/v1/completions", body, "Authorization: Bearer "+aliceKey+"x"), http.StatusUnauthorized, "invalid_api_key")
	wantError(t, "models with no key", e.stranger(t, "GET", "/v1/models", ""), http.StatusUnauthorized, "invalid_api_key")
	if resp := e.stranger(t, "GET", "/v1/models", "", "Authorization: Bearer "+bobKey); resp.StatusCode != 200 {
		t.Errorf("models with a key: %d", resp.StatusCode)
	}

	resp := e.stranger(t, "POST", "/v1/completions", body, "Authorization: Bearer "+aliceKey)
	var whole struct {
		Choices []struct{ Text string } `json:"choices"`
	}
	readJSON(t, resp, 200, &whole)
	if len(whole.Choices) != 1 || whole.Choices[0].Text != want {
		t.Fatalf("alice's completion %+v, want %q", whole, want)
	}
	sid, token := resp.Header.Get("X-Tabshard-Session"), resp.Header.Get("X-Tabshard-Resume-Token")
	events := "/v1/sessions/" + sid + "/events"
	for _, c := range []struct {
		what   string
		header string
	}{{"alice's key", "Authorization: Bearer " + aliceKey}, {"the resume token", "X-Tabshard-Resume-Token: " + token}, {"an admin key", "Authorization: Bearer " + adminKey}} {
		resp := e.stranger(t, "GET", events, "", c.header)
		if got := checkEvents(t, newSSEReader(resp.Body).all(t), 0, "text_completion"); got != want {
			t.Errorf("%s: %q, want %q", c.what, got, want)
		}
	}
	wantError(t, "bob's key", e.stranger(t, "GET", events, "", "Authorization: Bearer "+bobKey), http.StatusForbidden, "session_forbidden")
	wantError(t, "no key", e.stranger(t, "GET", events, ""), http.StatusForbidden, "session_forbidden")
	if got := e.b.lastRequest(t).Owner; len(got.KeyHash) != 32 || len(got.ResumeTokenHash) != 32 {
		t.Errorf("owner %+v: want SHA-256 hashes of the key and the token", got)
	}
}

// /api/state shows no session content without an admin key, and never
// the owners' hashes.
func TestStateRedacted(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.AdminKeys = keys(t, "ops "+adminKey) })
	e.b.state = &tabshardv1.ClusterState{Epoch: 3, Sessions: []*tabshardv1.Session{{
		Id: "k3y", Prompt: []uint32{1, 403, 9999}, Generated: []uint32{7777, 8888}, Sampling: &tabshardv1.Sampling{Temperature: 0.5, RngState: 123456789},
		StopTokens: []uint32{2}, OwnerKeyHash: []byte("OWNERHASH"), ResumeTokenHash: []byte("TOKENHASH"), FinishReason: "stop",
		Stop: []string{"SECRETSTOP"}, Logprobs: []*tabshardv1.TokenLogprobs{{Logprob: -0.25, Top: []*tabshardv1.TokenLogprob{{Token: 6666, Logprob: -1.5}}}},
	}}}
	state := func(headers ...string) (int, string) {
		resp := e.stranger(t, "GET", "/api/state", "", headers...)
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, open := state()
	for _, secret := range []string{"9999", "7777", "8888", "123456789", "0.5", "T1dORVJIQVNI", "VE9LRU5IQVNI", "SECRETSTOP", "6666", "-0.25"} {
		if strings.Contains(open, secret) {
			t.Errorf("/api/state without an admin key shows %s: %s", secret, open)
		}
	}
	if code != 200 || !strings.Contains(open, `"k3y"`) || !strings.Contains(open, `"stop"`) {
		t.Errorf("/api/state without an admin key: %d %s; want the session's id and state", code, open)
	}
	code, admin := state("Authorization: Bearer " + adminKey)
	for _, content := range []string{"9999", "7777", "123456789", "SECRETSTOP", "6666"} {
		if code != 200 || !strings.Contains(admin, content) {
			t.Errorf("/api/state with the admin key lacks %s: %d %s", content, code, admin)
		}
	}
	if strings.Contains(admin, "T1dORVJIQVNI") || strings.Contains(admin, "VE9LRU5IQVNI") {
		t.Errorf("/api/state shows the owner's hashes: %s", admin)
	}
	wantError(t, "a wrong admin key", e.stranger(t, "GET", "/api/state", "", "Authorization: Bearer "+adminKey+"x"), http.StatusUnauthorized, "invalid_api_key")
}

// A Host that is not one of the server's names is refused (DNS
// rebinding); addresses, localhost and configured names are served.
func TestHostCheck(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Hosts = []string{"tabshard.example"} })
	get := func(host string) *http.Response {
		req, _ := http.NewRequest("GET", e.srv.URL+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "LocalHost", "[::1]:8080", "10.1.2.3", "tabshard.example:8080", "TabShard.Example."} {
		if resp := get(host); resp.StatusCode != 200 {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
	// HTTP/1.0 without a Host (a probe, never a browser).
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.0\r\n\r\n")
	if status, _ := bufio.NewReader(conn).ReadString('\n'); !strings.Contains(status, " 200 ") {
		t.Errorf("HTTP/1.0 without a Host: %q", status)
	}
	for _, host := range []string{"evil.example", "evil.example:8080", "localhost.evil.example", "tabshard.example.evil.example"} {
		got := wantError(t, "Host "+host, get(host), http.StatusMisdirectedRequest, "host_not_allowed")
		if !strings.Contains(got.Error.Message, "--public-host") {
			t.Errorf("Host %s: %q does not say how to allow a name", host, got.Error.Message)
		}
	}
}

// A POST that is not JSON (a cross-site form post needs no preflight) is
// refused and starts nothing.
func TestPostNeedsJSON(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""} {
		resp := e.stranger(t, "POST", "/v1/completions", `{"prompt":"Once upon a time"}`, "Content-Type: "+ct)
		wantError(t, "Content-Type "+ct, resp, http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	e.b.mu.Lock()
	started := len(e.b.requests)
	e.b.mu.Unlock()
	if started != 0 {
		t.Errorf("%d sessions started by refused posts", started)
	}
	resp := e.stranger(t, "POST", "/v1/completions", `{"prompt":"Once upon a time","max_tokens":3}`, "Content-Type: application/json; charset=utf-8")
	if resp.StatusCode != 200 {
		t.Errorf("JSON with a charset: %d", resp.StatusCode)
	}
}

// With a model server, the coordinator's own /model is off.
func TestModelFileOffWithModelServer(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.ModelServerURL = "https://models.example/stories260K.gguf" })
	got := wantError(t, "/model", e.stranger(t, "GET", "/model/"+modelName, "", "Range: bytes=0-99"), http.StatusForbidden, "model_served_elsewhere")
	if !strings.Contains(got.Error.Message, "https://models.example/") {
		t.Errorf("%q does not name the model server", got.Error.Message)
	}
}

func TestParseKeys(t *testing.T) {
	ks := keys(t, "# keys\nalice "+aliceKey+"\n"+bobKey+"\n")
	if ks.Len() != 2 {
		t.Errorf("%d keys, want 2", ks.Len())
	}
	for _, bad := range []string{"", "# only a comment\n", "short", "a b " + aliceKey, aliceKey + "\n" + aliceKey} {
		if _, err := api.ParseKeys(strings.NewReader(bad), "test"); !errors.Is(err, api.ErrKeyFile) {
			t.Errorf("%q: %v, want ErrKeyFile", bad, err)
		}
	}
	if _, err := api.LoadKeys(t.TempDir() + "/missing"); !errors.Is(err, api.ErrKeyFile) {
		t.Errorf("a missing file: %v", err)
	}
}
