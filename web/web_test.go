package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func serve(h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPages(t *testing.T) {
	h := Handler(Options{WasmDir: t.TempDir()})
	for path, want := range map[string]string{
		"/": "layer shards", "/worker": "/static/worker.js", "/launcher": "Open worker tabs",
		"/chat": "/static/chat.js", "/dashboard": "Failover events", "/static/style.css": "--accent",
		"/static/common.js": "class Series",
	} {
		rec := serve(h, "GET", path)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d, body lacks %q", path, rec.Code, want)
		}
		if rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: headers %v", path, rec.Header())
		}
		if again := serve(h, "GET", path, "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
			t.Errorf("%s revalidated: %d", path, again.Code)
		}
	}
	for _, path := range []string{"/static/", "/static/../web.go", "/static/nope.js", "/elsewhere"} {
		if rec := serve(h, "GET", path); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
}

func TestWorkerNotBuilt(t *testing.T) {
	h := Handler(Options{WasmDir: t.TempDir()})
	rec := serve(h, "GET", "/static/worker.wasm")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "make wasm-worker") {
		t.Errorf("%d %q", rec.Code, rec.Body.String())
	}
}

func TestWorkerFromDir(t *testing.T) {
	dir := t.TempDir()
	wasm := []byte("\x00asm fake module")
	os.WriteFile(filepath.Join(dir, WasmFile), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, WasmExecFile), []byte("// loader"), 0o644)
	f, _ := os.Create(filepath.Join(dir, WasmFile+".gz"))
	zw := gzip.NewWriter(f)
	zw.Write(wasm)
	zw.Close()
	f.Close()
	h := Handler(Options{WasmDir: dir})

	rec := serve(h, "GET", "/static/worker.wasm")
	if rec.Code != 200 || rec.Body.String() != string(wasm) || rec.Header().Get("Content-Type") != "application/wasm" {
		t.Errorf("plain: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = serve(h, "GET", "/static/worker.wasm", "Accept-Encoding", "gzip, br")
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Content-Type") != "application/wasm" {
		t.Fatalf("gzip: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != string(wasm) {
		t.Errorf("gzip body %q", b)
	}
	if rec := serve(h, "GET", "/static/wasm_exec.js"); rec.Code != 200 || rec.Body.String() != "// loader" {
		t.Errorf("wasm_exec.js: %d", rec.Code)
	}
	// Only the compressed worker (as make wasm-worker leaves it): clients
	// without gzip get it unpacked.
	os.Remove(filepath.Join(dir, WasmFile))
	if rec := serve(h, "GET", "/static/worker.wasm"); rec.Code != 200 || rec.Body.String() != string(wasm) || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("unpacked: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if rec := serve(h, "GET", "/static/worker.wasm", "Accept-Encoding", "gzip"); rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("compressed only: %v", rec.Header())
	}
	os.WriteFile(filepath.Join(dir, WasmFile), wasm, 0o644)
	// A rebuilt worker gets a new ETag without a restart.
	tag := serve(h, "GET", "/static/worker.wasm").Header().Get("ETag")
	os.WriteFile(filepath.Join(dir, WasmFile), append(wasm, 1), 0o644)
	if serve(h, "GET", "/static/worker.wasm").Header().Get("ETag") == tag {
		t.Error("same ETag after a rebuild")
	}
}

// TestLinkBenchIsolated: the link benchmark's page is cross-origin
// isolated (a 5 µs clock), and no other page is.
func TestLinkBenchIsolated(t *testing.T) {
	h := Handler(Options{WasmDir: t.TempDir()})
	rec := serve(h, "GET", "/static/linkbench.html")
	if rec.Code != 200 || rec.Header().Get("Cross-Origin-Opener-Policy") != "same-origin" || rec.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Errorf("linkbench.html: %d, headers %v", rec.Code, rec.Header())
	}
	for _, path := range []string{"/worker", "/static/worker.js", "/"} {
		if rec := serve(h, "GET", path); rec.Header().Get("Cross-Origin-Embedder-Policy") != "" {
			t.Errorf("%s is isolated: %v", path, rec.Header())
		}
	}
}
