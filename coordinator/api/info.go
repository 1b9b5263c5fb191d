package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"google.golang.org/protobuf/encoding/protojson"
)

// modelList is the OpenAI list of models.
type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

type modelObject struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Created       int64  `json:"created"`
	OwnedBy       string `json:"owned_by"`
	ContextLength int    `json:"context_length"`
}

// handleModels is GET /v1/models.
func (s *server) handleModels(w http.ResponseWriter, r *http.Request) {
	list := modelList{Object: "list", Data: []modelObject{}}
	for _, m := range s.b.Models() {
		owner := m.OwnedBy
		if owner == "" {
			owner = "tabshard"
		}
		list.Data = append(list.Data, modelObject{ID: m.ID, Object: "model", Created: m.Created, OwnedBy: owner, ContextLength: m.ContextLength})
	}
	writeJSON(w, http.StatusOK, list)
}

// stateJSON writes proto field names and every field, zero or not, so that
// dashboards find stable keys. 64-bit integers are JSON strings (protojson).
var stateJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// handleState is GET /api/state: the applied ClusterState as protojson,
// with session content only for an admin key (redactState). A key that is
// neither an API key nor an admin key is refused, so that a mistyped admin
// key is not mistaken for an empty cluster.
func (s *server) handleState(w http.ResponseWriter, r *http.Request) {
	c := s.callerOf(r)
	if c.invalid {
		writeError(w, &apiError{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: "invalid_api_key",
			Message: "unknown key: /api/state shows session content to the keys of --admin-key-file only; send no key for the state without content"})
		return
	}
	st := s.b.State()
	if st == nil {
		writeError(w, fmt.Errorf("%w: no cluster state applied yet", ErrUnavailable))
		return
	}
	b, err := stateJSON.Marshal(redactState(st, c.admin))
	if err != nil {
		s.fail(w, r, "marshal state", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// handleHealth is GET /healthz: 200 "ok", or 503 with the reason.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.b.Health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintln(w, err)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// handleModelFile is GET and HEAD /model/{name}: the model's GGUF bytes,
// with Range requests (single and multiple ranges, If-Range) as
// http.ServeContent answers them; 416 for an unsatisfiable range.
func (s *server) handleModelFile(w http.ResponseWriter, r *http.Request) {
	if s.opts.ModelServerURL != "" {
		writeError(w, &apiError{Status: http.StatusForbidden, Type: typeInvalidRequest, Code: "model_served_elsewhere",
			Message: fmt.Sprintf("this cluster serves its model from %s, to holders of grants (GET /api/model-grant); /model here is off", s.opts.ModelServerURL)})
		return
	}
	name := r.PathValue("name")
	f, modTime, err := s.b.ModelFile(name)
	if errors.Is(err, ErrUnknownModel) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "model_not_found", Message: err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, "open model file", err)
		return
	}
	if c, ok := f.(io.Closer); ok {
		defer c.Close()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, modTime, f)
}

// handleJoin is GET /api/join: where a worker finds NATS and the model.
func (s *server) handleJoin(w http.ResponseWriter, r *http.Request) {
	if s.opts.JoinInfo == nil {
		notFound(w, r)
		return
	}
	info := s.opts.JoinInfo(r)
	info.NATSURL = reachable(info.NATSURL, r.Host)
	info.NATSWSURL = reachable(info.NATSWSURL, r.Host)
	for i, u := range info.NATSURLs {
		info.NATSURLs[i] = reachable(u, r.Host)
	}
	for i, u := range info.NATSWSURLs {
		info.NATSWSURLs[i] = reachable(u, r.Host)
	}
	info.ModelURL = reachable(info.ModelURL, r.Host)
	info.ModelGrantURL = reachable(info.ModelGrantURL, r.Host)
	if info.ModelURL == "" {
		info.ModelURL = s.modelURL(r)
	}
	writeJSON(w, http.StatusOK, info)
}

// modelURL is this server's URL of its first model, as the request reached it.
func (s *server) modelURL(r *http.Request) string {
	models := s.b.Models()
	if len(models) == 0 {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: "/model/" + models[0].ID}
	return u.String()
}

// reachable replaces an unspecified host in rawURL (empty, 0.0.0.0, ::)
// with the host of requestHost, keeping the URL's port: a daemon listening
// on all interfaces does not know which address a worker reaches it at.
func reachable(rawURL, requestHost string) string {
	u, err := url.Parse(rawURL)
	if rawURL == "" || err != nil || u.Host == "" && u.Scheme == "" {
		return rawURL
	}
	host := u.Hostname()
	if host != "" && !net.ParseIP(host).IsUnspecified() {
		return rawURL
	}
	reqHost := requestHost
	if h, _, err := net.SplitHostPort(requestHost); err == nil {
		reqHost = h
	}
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(reqHost, port)
	} else {
		u.Host = bracketIPv6(reqHost)
	}
	return u.String()
}

func bracketIPv6(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]"
	}
	return host
}
