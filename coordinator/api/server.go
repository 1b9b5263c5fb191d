package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// server holds what the handlers share.
type server struct {
	b    Backend
	opts Options
}

// New returns the coordinator's HTTP API over b. See the package
// documentation for the endpoints.
func New(b Backend, opts Options) http.Handler {
	s := &server{b: b, opts: opts.withDefaults()}
	return s.observe(s.guard(s.routes()))
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc, methods ...string) {
		mux.Handle(pattern, allow(h, methods...))
	}
	handle("/v1/completions", s.requireKey(s.handleCompletions), http.MethodPost)
	handle("/v1/chat/completions", s.requireKey(s.handleChatCompletions), http.MethodPost)
	handle("/v1/models", s.requireKey(s.handleModels), http.MethodGet, http.MethodHead)
	handle("/v1/sessions/{id}/events", s.handleSessionEvents, http.MethodGet)
	handle("/v1/sessions/{id}/ws", s.handleSessionWebSocket, http.MethodGet)
	handle("/api/state", s.handleState, http.MethodGet, http.MethodHead)
	handle("/api/loads", s.handleLoads, http.MethodGet, http.MethodHead)
	handle("/api/join", s.handleJoinOrAdmit, http.MethodGet, http.MethodHead, http.MethodPost)
	handle("/api/join/renew", s.handleRenew, http.MethodPost)
	handle("/api/coordinators", s.handleAddCoordinator, http.MethodPost)
	handle("/healthz", s.handleHealth, http.MethodGet, http.MethodHead)
	handle("/model/{name}", s.handleModelFile, http.MethodGet, http.MethodHead)
	mux.Handle("/metrics", allow(s.opts.Metrics.Handler().ServeHTTP, http.MethodGet, http.MethodHead))
	if s.opts.ModelGrant != nil {
		handle("/api/model-grant", s.opts.ModelGrant.ServeHTTP, http.MethodGet)
	}
	if s.opts.Pages != nil {
		for _, p := range []string{"/{$}", "/worker", "/launcher", "/chat", "/dashboard", "/static/"} {
			handle(p, s.opts.Pages.ServeHTTP, http.MethodGet, http.MethodHead)
		}
	}
	mux.HandleFunc("/", notFound)
	return mux
}

// allow answers 405 to methods other than methods, and 415 to a POST
// that is not JSON (a cross-site form post needs no CORS preflight; a
// JSON one does).
func allow(h http.HandlerFunc, methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest,
				Code: "method_not_allowed", Message: fmt.Sprintf("%s does not allow %s", r.URL.Path, r.Method)})
			return
		}
		if r.Method == http.MethodPost {
			if err := checkJSON(r.Header.Get("Content-Type")); err != nil {
				writeError(w, err)
				return
			}
		}
		h(w, r)
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "not_found",
		Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
}

// observe counts and logs every request, and bounds request bodies.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		code := strconv.Itoa(rec.statusCode())
		s.opts.Metrics.HTTPRequests.WithLabelValues(route, code).Inc()
		s.opts.Logger.DebugContext(r.Context(), "http", "method", r.Method, "path", r.URL.Path,
			"route", route, "status", code, "bytes", rec.bytes, "duration", time.Since(start))
	})
}

// recorder remembers a response's status and size. Unwrap lets
// http.ResponseController and the WebSocket upgrade reach the connection.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
