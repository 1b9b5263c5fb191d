package wasmworker

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// modelServer serves a file with Range support and counts range requests.
func modelServer(t *testing.T, data []byte, modTime time.Time) (*httptest.Server, *atomic.Int64) {
	var ranges atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		http.ServeContent(w, r, "m.gguf", modTime, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &ranges
}

func get(t *testing.T, c *http.Client, method, url, rng string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCachingTransport(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100))
	srv, ranges := modelServer(t, data, time.Unix(1e9, 0))
	store := &MemStore{}
	tr := &CachingTransport{Next: http.DefaultTransport, Store: store}
	c := &http.Client{Transport: tr}

	// Without a HEAD first, the file's version is unknown: nothing is kept.
	if code, body := get(t, c, "GET", srv.URL+"/m", "bytes=0-9"); code != 206 || body != "0123456789" {
		t.Fatalf("%d %q", code, body)
	}
	if store.Len() != 0 {
		t.Fatal("kept a range of a file it has no validator for")
	}
	get(t, c, "HEAD", srv.URL+"/m?token=a", "")
	for range 2 {
		if code, body := get(t, c, "GET", srv.URL+"/m?token=b", "bytes=10-14"); code != 206 || body != "01234" {
			t.Fatalf("%d %q", code, body)
		}
	}
	if n := ranges.Load(); n != 2 {
		t.Errorf("%d range requests reached the server, want 2 (the second read came from the store)", n)
	}
	fetched, cached := tr.Bytes()
	if fetched != 15 || cached != 5 {
		t.Errorf("bytes fetched %d cached %d, want 15 and 5", fetched, cached)
	}
	// A new version of the file (another Last-Modified) misses the cache.
	srv2, ranges2 := modelServer(t, data, time.Unix(2e9, 0))
	tr2 := &CachingTransport{Next: http.DefaultTransport, Store: store}
	c2 := &http.Client{Transport: tr2}
	get(t, c2, "HEAD", srv2.URL+"/m", "")
	get(t, c2, "GET", srv2.URL+"/m", "bytes=10-14")
	if ranges2.Load() != 1 {
		t.Error("a changed file was served from the cache")
	}
	// Errors pass through untouched.
	if code, _ := get(t, c, "GET", srv.URL+"/m", "bytes=5000-6000"); code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", code)
	}
}

func TestCachedResponseHeaders(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://h/m", nil)
	resp := partial(req, []byte("abcde"), "bytes=10-14", "1000/x")
	if got := resp.Header.Get("Content-Range"); got != "bytes 10-14/1000" {
		t.Errorf("Content-Range %q", got)
	}
	if resp.ContentLength != 5 || resp.StatusCode != 206 {
		t.Errorf("%+v", resp)
	}
}
