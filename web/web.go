// Package web is the pages the coordinator serves: a worker tab
// (/worker?token=T), a launcher that opens worker tabs, a chat page that
// streams tokens, and a dashboard of members, plan, latency and failovers.
// They are plain HTML, CSS and JavaScript with no build step, embedded in
// the binary, plus the built worker (worker.wasm and its wasm_exec.js
// loader), embedded from dist/ when `make wasm-worker` built it, or served
// from Options.WasmDir.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFS embed.FS

//go:embed dist
var distFS embed.FS

// Built files: the worker and its loader.
const (
	WasmFile     = "worker.wasm"
	WasmExecFile = "wasm_exec.js"
)

// LinkBenchFile is the link benchmark's wasm (make bench), served from
// Options.WasmDir only.
const LinkBenchFile = "linkbench.wasm"

// linkBenchPage is the link benchmark's page: served cross-origin
// isolated, where performance.now() (and so Go's clock) resolves 5 µs
// instead of 100 µs — the hops it times are a few hundred µs.
const linkBenchPage = "linkbench.html"

// isolate makes the page cross-origin isolated (COOP + COEP).
func isolate(w http.ResponseWriter) {
	w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
	w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
}

// built are the files served from dist/ or Options.WasmDir.
var built = map[string]bool{WasmFile: true, WasmFile + ".gz": true, WasmExecFile: true, LinkBenchFile: true}

// Options configure the pages.
type Options struct {
	// WasmDir serves worker.wasm (and worker.wasm.gz) and wasm_exec.js from
	// this folder instead of the copies embedded at build time (tests,
	// development); "" uses the embedded ones.
	WasmDir string
}

// pages maps routes to their HTML files.
var pages = map[string]string{
	"/": "index.html", "/worker": "worker.html", "/launcher": "launcher.html",
	"/chat": "chat.html", "/dashboard": "dashboard.html",
}

// Handler serves the pages at /, /worker, /launcher, /chat, /dashboard and
// their files under /static/.
func Handler(o Options) http.Handler {
	h := &handler{opts: o, etags: map[string]string{}}
	return h
}

type handler struct {
	opts  Options
	mu    sync.Mutex
	etags map[string]string // embedded file → ETag
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if page, ok := pages[r.URL.Path]; ok {
		h.serveEmbedded(w, r, staticFS, "static/"+page)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/static/")
	if !ok || name == "" || strings.Contains(name, "..") {
		http.NotFound(w, r)
		return
	}
	if built[name] {
		h.serveBuilt(w, r, name)
		return
	}
	if name == linkBenchPage {
		isolate(w)
	}
	h.serveEmbedded(w, r, staticFS, path.Join("static", name))
}

// serveEmbedded answers with an embedded file, revalidated by ETag on
// every use so that a new binary's pages are never stale.
func (h *handler) serveEmbedded(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", h.etag(name, b))
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (h *handler) etag(name string, b []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.etags[name]; ok {
		return t
	}
	t := contentTag(b)
	h.etags[name] = t
	return t
}

func contentTag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// errNotBuilt explains a worker page without its worker.
var errNotBuilt = errors.New("the tab worker is not built into this binary: run `make wasm-worker` (or `make build`, which does it) and start tabshard again")

// serveBuilt serves worker.wasm and wasm_exec.js. The worker is kept
// gzip-compressed (make wasm-worker embeds only worker.wasm.gz): it goes
// out as it is to clients that take gzip, unpacked to the others.
func (h *handler) serveBuilt(w http.ResponseWriter, r *http.Request, name string) {
	if strings.HasSuffix(name, ".wasm") {
		w.Header().Set("Content-Type", "application/wasm")
	}
	if name == WasmFile {
		w.Header().Add("Vary", "Accept-Encoding")
		if b, err := h.readBuilt(WasmFile + ".gz"); err == nil {
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && r.Header.Get("Range") == "" {
				w.Header().Set("Content-Encoding", "gzip")
				h.serveBytes(w, r, WasmFile+".gz", b)
				return
			}
			if _, err := h.readBuilt(WasmFile); err != nil {
				h.serveUnpacked(w, r, b)
				return
			}
		}
	}
	b, err := h.readBuilt(name)
	if err != nil {
		http.Error(w, errNotBuilt.Error(), http.StatusNotFound)
		return
	}
	h.serveBytes(w, r, name, b)
}

// serveUnpacked serves the gzip-compressed gz unpacked.
func (h *handler) serveUnpacked(w http.ResponseWriter, r *http.Request, gz []byte) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		http.Error(w, "worker.wasm.gz: "+err.Error(), http.StatusInternalServerError)
		return
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		http.Error(w, "worker.wasm.gz: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.serveBytes(w, r, WasmFile, b)
}

func (h *handler) serveBytes(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	tag := contentTag(b) // files in WasmDir change under a running server
	if h.opts.WasmDir == "" {
		tag = h.etag("dist/"+name, b)
	}
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (h *handler) readBuilt(name string) ([]byte, error) {
	if h.opts.WasmDir != "" {
		return os.ReadFile(filepath.Join(h.opts.WasmDir, name))
	}
	return fs.ReadFile(distFS, "dist/"+name)
}

// Built reports whether the worker is embedded in this binary.
func Built() bool {
	_, err := fs.Stat(distFS, "dist/"+WasmFile+".gz")
	_, plain := fs.Stat(distFS, "dist/"+WasmFile)
	return err == nil || plain == nil
}
