package modelauth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Opener opens a served file by name: its bytes, size and modification
// time. Each call returns a reader of its own; an io.Closer is closed.
type Opener func(name string) (f io.ReadSeeker, size int64, modTime time.Time, err error)

// FileServer serves model files at /<name> to the holders of grants, to
// pages of the allowed origins only.
type FileServer struct {
	Signer *Signer
	// Origins are the page origins ("https://host:port") that may read
	// the files from a browser; requests without an Origin header (native
	// workers) are not restricted by it.
	Origins []string
	Open    Opener
	// Now is the clock grants expire on; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// exposed are the headers a page may read from a cross-origin answer.
const exposed = "Content-Range, Content-Length, Accept-Ranges, Last-Modified, ETag, " + HeaderErrorCode + ", " + HeaderError

func (s *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	g, err := s.grant(r)
	if err == nil && g.File != name {
		err = fmt.Errorf("%w: it names %q, the request %q", ErrWrongFile, g.File, name)
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	f, size, mod, err := s.Open(name)
	if err != nil {
		s.refuse(w, r, fmt.Errorf("%w: %v", ErrWrongFile, err))
		return
	}
	if c, ok := f.(io.Closer); ok {
		defer c.Close()
	}
	if err := g.Check(r.Method, r.Header.Get("Range"), size); err != nil {
		s.refuse(w, r, err)
		return
	}
	if err := CheckIfRange(r.Header.Get("If-Range"), mod); err != nil && r.Method == http.MethodGet {
		s.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "private, no-store")
	var out http.ResponseWriter = w
	if r.Method == http.MethodGet {
		out = &partialOnly{ResponseWriter: w, refuse: func() { s.refuse(w, r, errWidened) }}
	}
	http.ServeContent(out, r, name, mod, f)
}

// errWidened is a GET that http.ServeContent would have answered with the
// whole file although the checks above passed it.
var errWidened = fmt.Errorf("%w: the server would have answered with the whole file; send only granted ranges", ErrNotAllowed)

// partialOnly lets a GET answer out only as partial content (206) or an
// error: whatever the checks before it missed, a grant never reads the
// whole file. A 200 is replaced by the refusal and its body dropped.
type partialOnly struct {
	http.ResponseWriter
	refuse  func()
	wrote   bool
	blocked bool
}

func (p *partialOnly) WriteHeader(code int) {
	if p.wrote {
		return
	}
	p.wrote = true
	if code != http.StatusOK {
		p.ResponseWriter.WriteHeader(code)
		return
	}
	p.blocked = true
	for _, h := range []string{"Content-Length", "Content-Range", "Content-Encoding", "Last-Modified", "Accept-Ranges"} {
		p.Header().Del(h)
	}
	p.refuse()
}

func (p *partialOnly) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	if p.blocked {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// ReadFrom keeps http.ServeContent's copy on the underlying writer's
// ReadFrom (sendfile for a file) when the answer is not blocked.
func (p *partialOnly) ReadFrom(r io.Reader) (int64, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	if p.blocked {
		return io.Copy(io.Discard, r)
	}
	return io.Copy(p.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (p *partialOnly) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// cors answers for the page's origin: false (and 403) for an origin not
// on the list; preflights get the methods and headers a worker uses.
func (s *FileServer) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(s.Origins, origin) {
		s.refuse(w, r, fmt.Errorf("%w: %s may not read model files from here (allowed: %s)", ErrOrigin, origin, strings.Join(s.Origins, ", ")))
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", exposed)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		h.Set("Access-Control-Allow-Headers", "Range, Authorization")
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

// grant reads and verifies the request's grant: ?grant= or a Bearer token.
func (s *FileServer) grant(r *http.Request) (Grant, error) {
	token := r.URL.Query().Get("grant")
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token == "" {
		token = auth
	}
	if token == "" {
		return Grant{}, ErrNoGrant
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.Signer.Verify(token, now())
}

// refuse answers 403 with a JSON error that says why.
func (s *FileServer) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if s.Log != nil {
		s.Log.Warn("model request refused", "path", r.URL.Path, "range", r.Header.Get("Range"), "origin", r.Header.Get("Origin"), "err", err)
	}
	writeError(w, http.StatusForbidden, err)
}

// writeError answers status with err's message and code in a JSON body
// and in headers (a HEAD answer has no body).
func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(HeaderErrorCode, code(err))
	w.Header().Set(HeaderError, headerSafe(err.Error()))
	w.WriteHeader(status)
	body := map[string]any{"error": map[string]string{"message": err.Error(), "type": "invalid_request_error", "code": code(err)}}
	_ = json.NewEncoder(w).Encode(body)
}

// headerSafe makes s a plain ASCII header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < ' ' || r == 0x7f:
			return ' '
		case r > 0x7f:
			return '?'
		}
		return r
	}, strings.ReplaceAll(s, "…", "..."))
}
