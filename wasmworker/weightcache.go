package wasmworker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Store keeps byte strings by key: Cache Storage in a tab (so that a
// reloaded tab finds its weights), a map in tests. Errors are not fatal:
// the bytes are fetched again.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, b []byte) error
}

// MemStore is a Store in memory.
type MemStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Get returns the bytes kept under key.
func (s *MemStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	return b, ok, nil
}

// Put keeps b under key.
func (s *MemStore) Put(_ context.Context, key string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = bytes.Clone(b)
	return nil
}

// Len is the number of entries.
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// CachingTransport is the http.RoundTripper a tab loads its weights
// through. It answers single-range GETs of a file it has seen a HEAD of
// from Store, keyed by the file's address (without its query, which may
// carry a short-lived access token), size, Last-Modified and the range; it
// keeps what it fetches there, and counts the bytes of both. Everything
// else passes through to Next.
type CachingTransport struct {
	Next  http.RoundTripper
	Store Store // nil: count only

	mu         sync.Mutex
	validators map[string]string // file → "size/last-modified"

	fetched atomic.Int64 // range bytes from the network
	cached  atomic.Int64 // range bytes from Store
}

// Bytes returns the range bytes handed out so far: from the network and
// from the store.
func (t *CachingTransport) Bytes() (fetched, cached int64) {
	return t.fetched.Load(), t.cached.Load()
}

// RoundTrip implements http.RoundTripper.
func (t *CachingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method == http.MethodHead:
		return t.head(req)
	case req.Method == http.MethodGet && req.Header.Get("Range") != "":
		return t.get(req)
	}
	return t.Next.RoundTrip(req)
}

func fileKey(req *http.Request) string {
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func (t *CachingTransport) head(req *http.Request) (*http.Response, error) {
	resp, err := t.Next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength < 0 {
		return resp, err
	}
	v := strconv.FormatInt(resp.ContentLength, 10) + "/" + resp.Header.Get("Last-Modified")
	t.mu.Lock()
	if t.validators == nil {
		t.validators = map[string]string{}
	}
	t.validators[fileKey(req)] = v
	t.mu.Unlock()
	return resp, nil
}

func (t *CachingTransport) get(req *http.Request) (*http.Response, error) {
	rng := req.Header.Get("Range")
	t.mu.Lock()
	v, known := t.validators[fileKey(req)]
	t.mu.Unlock()
	key := ""
	if known && t.Store != nil && !strings.Contains(rng, ",") {
		key = fileKey(req) + "#" + v + "#" + rng
		if b, ok, err := t.Store.Get(req.Context(), key); err == nil && ok {
			t.cached.Add(int64(len(b)))
			return partial(req, b, rng, v), nil
		}
	}
	resp, err := t.Next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		return resp, err
	}
	b, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("model range %s: %w", rng, err)
	}
	t.fetched.Add(int64(len(b)))
	if key != "" {
		_ = t.Store.Put(req.Context(), key, b) // a full store only costs a refetch
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// readBody reads a response's body into one slice of its announced
// length (io.ReadAll would grow one by doubling, leaving garbage of twice
// the piece for each piece of a stage), or takes it as it is when it is
// already whole in memory.
func readBody(resp *http.Response) ([]byte, error) {
	if whole, ok := resp.Body.(interface{ Bytes() []byte }); ok { // RangeFetchTransport's
		return whole.Bytes(), nil
	}
	if resp.ContentLength < 0 || resp.ContentLength > 1<<30 {
		return io.ReadAll(resp.Body)
	}
	b := make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// partial is the 206 answer to a Range request served from the store.
func partial(req *http.Request, b []byte, rng, validator string) *http.Response {
	h := http.Header{}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if size, _, ok := strings.Cut(validator, "/"); ok {
		if first, _, ok := strings.Cut(strings.TrimPrefix(rng, "bytes="), "-"); ok {
			if f, err := strconv.ParseInt(first, 10, 64); err == nil {
				h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", f, f+int64(len(b))-1, size))
			}
		}
	}
	h.Set("X-Tabshard-Cache", "hit")
	return &http.Response{
		Status: "206 Partial Content", StatusCode: http.StatusPartialContent, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req,
	}
}
