package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// ErrJoinRefused is a join, renewal or coordinator addition whose bearer
// token is not the cluster's join token, or whose worker may not renew: 401.
var ErrJoinRefused = errors.New("join refused")

// Admission admits workers and coordinators over HTTP, so that the join
// token travels only in a request's Authorization header, never on the
// bus. token is the request's bearer token ("" when it has none).
type Admission interface {
	// Join admits a worker: POST /api/join. The reply carries its id and
	// the user JWT for the public key it sent.
	Join(ctx context.Context, token string, req *tabshardv1.JoinRequest) (*tabshardv1.JoinReply, error)
	// Renew issues a fresh user JWT to an active worker for the key it
	// joined with: POST /api/join/renew.
	Renew(ctx context.Context, token string, req *tabshardv1.RenewRequest) (*tabshardv1.JoinReply, error)
	// AddCoordinator adds a coordinator to the Raft cluster:
	// POST /api/coordinators (tabshard up --join).
	AddCoordinator(ctx context.Context, token string, req *tabshardv1.AddCoordinatorRequest) (*tabshardv1.AddCoordinatorReply, error)
}

// joinJSON writes replies with proto field names.
var joinJSON = protojson.MarshalOptions{UseProtoNames: true}

// handleJoinOrAdmit serves GET /api/join (where NATS and the model are) and
// POST /api/join (admission).
func (s *server) handleJoinOrAdmit(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodPost:
		s.handleJoin(w, r)
	case s.opts.Admission == nil:
		notFound(w, r)
	default:
		admit(s, w, r, new(tabshardv1.JoinRequest), s.opts.Admission.Join)
	}
}

func (s *server) handleRenew(w http.ResponseWriter, r *http.Request) {
	if s.opts.Admission == nil {
		notFound(w, r)
		return
	}
	admit(s, w, r, new(tabshardv1.RenewRequest), s.opts.Admission.Renew)
}

func (s *server) handleAddCoordinator(w http.ResponseWriter, r *http.Request) {
	if s.opts.Admission == nil {
		notFound(w, r)
		return
	}
	admit(s, w, r, new(tabshardv1.AddCoordinatorRequest), s.opts.Admission.AddCoordinator)
}

// admit decodes a protojson request, checks that it carries a bearer
// token, and writes what do answers as protojson.
func admit[Req, Reply proto.Message](s *server, w http.ResponseWriter, r *http.Request, req Req, do func(context.Context, string, Req) (Reply, error)) {
	token, ok := bearer(r)
	if !ok {
		refuse(w, "missing Authorization: Bearer <join token>")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := protojson.Unmarshal(body, req); err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_json", Message: "request body: " + err.Error()})
		return
	}
	reply, err := do(r.Context(), token, req)
	if errors.Is(err, ErrJoinRefused) {
		s.opts.Logger.Warn("join refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		refuse(w, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, r.URL.Path, err)
		return
	}
	b, err := joinJSON.Marshal(reply)
	if err != nil {
		s.fail(w, r, "marshal reply", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// bearer is the request's bearer token.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func refuse(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="tabshard join"`)
	writeError(w, &apiError{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: "join_refused", Message: message})
}
