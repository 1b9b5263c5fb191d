package wasmworker

import (
	"context"
	"net/url"
	"syscall/js"
)

// CacheStore is a Store in the page's Cache Storage, which outlives the
// page: a reloaded tab reads its weights from there instead of the
// network. Cache Storage exists only in secure contexts (https, localhost).
type CacheStore struct {
	name   string
	origin string
}

// NewCacheStore opens the cache called name, or returns nil when the page
// has no Cache Storage.
func NewCacheStore(name string) *CacheStore {
	if js.Global().Get("caches").IsUndefined() {
		return nil
	}
	return &CacheStore{name: name, origin: js.Global().Get("location").Get("origin").String()}
}

// request is the cache entry's address: Cache Storage keys are URLs.
func (s *CacheStore) request(key string) string {
	return s.origin + "/tabshard-weight-cache?k=" + url.QueryEscape(key)
}

func (s *CacheStore) open(ctx context.Context) (js.Value, error) {
	return await(ctx, js.Global().Get("caches").Call("open", s.name))
}

// Get returns the bytes kept under key.
func (s *CacheStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	cache, err := s.open(ctx)
	if err != nil {
		return nil, false, err
	}
	resp, err := await(ctx, cache.Call("match", s.request(key)))
	if err != nil || resp.IsUndefined() || resp.IsNull() {
		return nil, false, err
	}
	buf, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		return nil, false, err
	}
	return bytesOf(buf), true, nil
}

// Put keeps b under key.
func (s *CacheStore) Put(ctx context.Context, key string, b []byte) error {
	cache, err := s.open(ctx)
	if err != nil {
		return err
	}
	resp := js.Global().Get("Response").New(jsBytes(b))
	_, err = await(ctx, cache.Call("put", s.request(key), resp))
	return err
}
