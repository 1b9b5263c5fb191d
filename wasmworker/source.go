package wasmworker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// rangeSource reads the model file with one HTTP Range request per ReadAt:
// the WebGPU backend streams each tensor through it in pieces straight
// into GPU buffers, so a shard is never whole in wasm memory.
type rangeSource struct {
	client *http.Client
	mu     sync.Mutex
	url    string
}

func (s *rangeSource) setURL(url string) {
	s.mu.Lock()
	s.url = url
	s.mu.Unlock()
}

// ReadAt fetches len(p) bytes at off.
func (s *rangeSource) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	url := s.url
	s.mu.Unlock()
	if url == "" {
		return 0, fmt.Errorf("model source: no model address yet")
	}
	if len(p) == 0 {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("model range %d+%d: %w", off, len(p), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("model range %d+%d: server answered %s, want 206", off, len(p), resp.Status)
	}
	return io.ReadFull(resp.Body, p)
}
