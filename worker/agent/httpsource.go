package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/tabshard/tabshard/modelauth"
)

// rangeReader reads a remote file with HTTP Range requests: only the bytes
// asked for cross the network.
type rangeReader struct {
	ctx    context.Context
	client *http.Client
	url    string
	size   int64
	read   atomic.Int64 // bytes fetched so far
}

// openRange learns the size of the file at url (HEAD).
func openRange(ctx context.Context, client *http.Client, url string) (*rangeReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model %s: HEAD: %w", url, modelauth.Refusal(resp))
	}
	if resp.ContentLength < 0 {
		return nil, fmt.Errorf("model %s: HEAD gave no length", url)
	}
	return &rangeReader{ctx: ctx, client: client, url: url, size: resp.ContentLength}, nil
}

// ReadAt fetches len(p) bytes at off with one Range request.
func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+want-1))
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("model range %d+%d: %w", off, want, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		err := fmt.Errorf("server answered %s, want 206", resp.Status)
		if resp.StatusCode >= 300 {
			err = modelauth.Refusal(resp)
		}
		return 0, fmt.Errorf("model %s range %d+%d: %w", r.url, off, want, err)
	}
	n, err := io.ReadFull(resp.Body, p[:want])
	r.read.Add(int64(n))
	if err == nil && want < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}
