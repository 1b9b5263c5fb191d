package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Headers and query parameters of private sessions.
const (
	// resumeTokenHeader carries a session's resume token: in the answer
	// that starts the session, and in requests that resume it.
	resumeTokenHeader = "X-Tabshard-Resume-Token"
	// resumeTokenParam is the query parameter a browser's EventSource or
	// WebSocket, which cannot set headers, resumes with.
	resumeTokenParam = "resume_token"
)

// guard refuses, before any route runs, a Host that is not one of this
// server's names: a page of another site that got its domain to resolve
// to this server (DNS rebinding) would otherwise read it as its own.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkHost(r.Host); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkHost accepts an IP address (a page of another site cannot reach
// this server under a literal address: the address is its origin),
// localhost, the names in Options.Hosts, and no Host at all (HTTP/1.0
// probes; a browser always sends one). Any other name can be an
// attacker's domain that resolves to this server (DNS rebinding).
func (s *server) checkHost(hostport string) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") ||
		slices.ContainsFunc(s.opts.Hosts, func(n string) bool { return strings.EqualFold(n, host) }) {
		return nil
	}
	return &apiError{Status: http.StatusMisdirectedRequest, Type: typeInvalidRequest, Code: "host_not_allowed",
		Message: fmt.Sprintf("Host %q is not a name this server answers to (a guard against DNS rebinding); "+
			"use its IP address or localhost, or start the coordinator with --public-host %s", hostport, host)}
}

// checkJSON accepts a JSON media type, with or without parameters.
func checkJSON(contentType string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil && mt == "application/json" {
		return nil
	}
	if contentType == "" {
		contentType = "none"
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Type: typeInvalidRequest, Code: "unsupported_media_type",
		Message: fmt.Sprintf("POST bodies must be JSON sent with Content-Type: application/json (got %s)", contentType)}
}

// caller is who a request comes from, as far as its Authorization says.
type caller struct {
	keyHash []byte // the SHA-256 of the API or admin key it presented; nil for none
	admin   bool   // it presented an admin key
	invalid bool   // it presented a key that is neither
}

// callerOf reads the request's "Authorization: Bearer KEY". Without
// configured keys any bearer is ignored: OpenAI clients always send one.
func (s *server) callerOf(r *http.Request) caller {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return caller{}
	}
	if h, _, ok := s.opts.AdminKeys.lookup(key); ok {
		return caller{keyHash: h, admin: true}
	}
	if h, _, ok := s.opts.APIKeys.lookup(key); ok {
		return caller{keyHash: h}
	}
	return caller{invalid: s.opts.APIKeys.Len()+s.opts.AdminKeys.Len() > 0}
}

// requireKey lets a request through when no API keys are configured, or
// when it presents one (or an admin key).
func (s *server) requireKey(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.APIKeys.Len() > 0 {
			if c := s.callerOf(r); c.keyHash == nil {
				writeError(w, keyError(r))
				return
			}
		}
		h(w, r)
	}
}

// keyError is the 401 of a request without a valid API key, in OpenAI's
// words.
func keyError(r *http.Request) *apiError {
	msg := "Incorrect API key provided. This server's API keys are in the file its --api-key-file names."
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		msg = "You didn't provide an API key. Send it in an Authorization header: Authorization: Bearer YOUR_KEY."
	}
	return &apiError{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: "invalid_api_key", Message: msg}
}

// newOwner makes the proof of ownership of a session r starts: a fresh
// resume token for the creator, and the hashes the cluster keeps.
func (s *server) newOwner(r *http.Request) (resumeToken string, o Owner) {
	resumeToken = rand.Text()
	h := sha256.Sum256([]byte(resumeToken))
	return resumeToken, Owner{KeyHash: s.callerOf(r).keyHash, ResumeTokenHash: h[:]}
}

// authorizeSession lets a request read a session when it presents the
// session's resume token, the API key that started it, or an admin key.
func (s *server) authorizeSession(r *http.Request, id string, o Owner) error {
	c := s.callerOf(r)
	if c.admin || (c.keyHash != nil && len(o.KeyHash) > 0 && subtle.ConstantTimeCompare(c.keyHash, o.KeyHash) == 1) {
		return nil
	}
	token := r.Header.Get(resumeTokenHeader)
	if token == "" {
		token = r.URL.Query().Get(resumeTokenParam)
	}
	if token != "" && len(o.ResumeTokenHash) > 0 {
		h := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(h[:], o.ResumeTokenHash) == 1 {
			return nil
		}
	}
	return &apiError{Status: http.StatusForbidden, Type: typeInvalidRequest, Code: "session_forbidden",
		Message: fmt.Sprintf("session %s is readable only by its creator: send the resume token it got (header %s, or ?%s=) "+
			"or the API key that started it", id, resumeTokenHeader, resumeTokenParam)}
}

// redactState is st as /api/state shows it: never the owners' hashes, and
// without an admin key no session content (prompt, generated tokens,
// sampler state, stop tokens and strings, log-probabilities).
func redactState(st *tabshardv1.ClusterState, admin bool) *tabshardv1.ClusterState {
	st = proto.Clone(st).(*tabshardv1.ClusterState)
	for _, s := range st.GetSessions() {
		s.OwnerKeyHash, s.ResumeTokenHash = nil, nil
		if !admin {
			s.Prompt, s.Generated, s.Sampling, s.StopTokens = nil, nil, nil, nil
			s.Stop, s.Logprobs = nil, nil
		}
	}
	return st
}
