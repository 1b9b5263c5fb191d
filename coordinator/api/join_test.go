package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/coordinator/api"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// admission admits anyone presenting "tok".
type admission struct{ seen []string }

func (a *admission) check(token string) error {
	a.seen = append(a.seen, token)
	if token != "tok" {
		return fmt.Errorf("%w: wrong join token", api.ErrJoinRefused)
	}
	return nil
}

func (a *admission) Join(_ context.Context, token string, req *tabshardv1.JoinRequest) (*tabshardv1.JoinReply, error) {
	if err := a.check(token); err != nil {
		return nil, err
	}
	if req.GetUserNkey() == "" {
		return nil, fmt.Errorf("%w: user_nkey is required", api.ErrBadRequest)
	}
	return &tabshardv1.JoinReply{WorkerId: "w1", UserJwt: "jwt-for-" + req.GetUserNkey()}, nil
}

func (a *admission) Renew(_ context.Context, token string, req *tabshardv1.RenewRequest) (*tabshardv1.JoinReply, error) {
	if err := a.check(token); err != nil {
		return nil, err
	}
	return &tabshardv1.JoinReply{WorkerId: req.GetWorkerId(), UserJwt: "renewed"}, nil
}

func (a *admission) AddCoordinator(_ context.Context, token string, _ *tabshardv1.AddCoordinatorRequest) (*tabshardv1.AddCoordinatorReply, error) {
	return &tabshardv1.AddCoordinatorReply{}, a.check(token)
}

func TestAdmission(t *testing.T) {
	adm := &admission{}
	e := newEnv(t, func(o *api.Options) { o.Admission = adm })
	for _, tc := range []struct {
		path, auth, body string
		status           int
		want             string
	}{
		{"/api/join", "Bearer tok", `{"name":"n","user_nkey":"UKEY"}`, 200, `"user_jwt":"jwt-for-UKEY"`},
		{"/api/join", "bearer  tok ", `{"user_nkey":"UKEY"}`, 200, `"worker_id":"w1"`},
		{"/api/join", "Bearer nope", `{"user_nkey":"UKEY"}`, 401, "wrong join token"},
		{"/api/join", "", `{"user_nkey":"UKEY"}`, 401, "missing Authorization"},
		{"/api/join", "Basic tok", `{"user_nkey":"UKEY"}`, 401, "missing Authorization"},
		{"/api/join", "Bearer tok", `{"join_token":"tok"}`, 400, "invalid_json"},
		{"/api/join", "Bearer tok", `{}`, 400, "user_nkey is required"},
		{"/api/join/renew", "Bearer tok", `{"worker_id":"w4","user_nkey":"UKEY"}`, 200, `"user_jwt":"renewed"`},
		{"/api/coordinators", "Bearer nope", `{"node_id":"c2"}`, 401, "join_refused"},
		{"/api/coordinators", "Bearer tok", `{"node_id":"c2","raft_address":"x"}`, 200, `{}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("POST %s (%q, %s): %d %s, want %d with %s", tc.path, tc.auth, tc.body, resp.StatusCode, b, tc.status, tc.want)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("POST %s: 401 without WWW-Authenticate", tc.path)
		}
	}
	// A join token in the body (the old protocol) is refused, never read.
	for _, tok := range adm.seen {
		if tok != "tok" && tok != "nope" {
			t.Errorf("admission saw token %q", tok)
		}
	}
}

func TestAdmissionOff(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Post(e.srv.URL+"/api/join", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /api/join without admission: %d", resp.StatusCode)
	}
}
