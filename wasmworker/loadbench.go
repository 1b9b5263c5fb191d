package wasmworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// LoadReport is what loading one stage's weights from a Range server
// measured.
type LoadReport struct {
	StageBytes int64   `json:"stage_bytes"` // the stage's tensors
	Fetched    int64   `json:"fetched"`     // range bytes from the network
	Cached     int64   `json:"cached"`      // range bytes from the Store
	Seconds    float64 `json:"seconds"`     // from the first request to the stage ready
	// BytesPerSecond is the bytes read (fetched and cached) per second.
	BytesPerSecond float64 `json:"bytes_per_second"`
	// HeapHighWater is the memory the Go runtime took from the wasm
	// instance (runtime.MemStats.Sys): linear memory only grows, so this
	// is the high-water mark of the whole run.
	HeapHighWater uint64 `json:"heap_high_water"`
	// HeapBefore is the same before the first request.
	HeapBefore uint64 `json:"heap_before"`
	// StreamSeconds is from the first Range request to the last answer:
	// the bytes' time without the device's start and the pipelines'
	// compilation; StreamBytesPerSecond the bytes over it.
	StreamSeconds        float64 `json:"stream_seconds"`
	StreamBytesPerSecond float64 `json:"stream_bytes_per_second"`
}

// rangeSpan times the Range requests that pass through it.
type rangeSpan struct {
	next        http.RoundTripper
	now         func() time.Time
	mu          sync.Mutex
	first, last time.Time
}

func (t *rangeSpan) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Range") == "" {
		return t.next.RoundTrip(req)
	}
	start := t.now()
	resp, err := t.next.RoundTrip(req)
	end := t.now()
	t.mu.Lock()
	if t.first.IsZero() || start.Before(t.first) {
		t.first = start
	}
	if end.After(t.last) {
		t.last = end
	}
	t.mu.Unlock()
	return resp, err
}

func (t *rangeSpan) seconds() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last.Sub(t.first).Seconds()
}

// ErrLoadBench is a load measurement that could not run.
var ErrLoadBench = errors.New("load measurement")

// MeasureLoad loads the stage r of the model at modelURL (r zero: every
// block, the embedding and the head) with the Loader backend makes,
// reading its bytes as a tab worker does (HTTP Range through a
// CachingTransport over next, kept in store when it is not nil), and
// reports the time, the bytes and the heap's high-water mark. The stage is
// closed afterwards when its Compute has a Close method.
func MeasureLoad(ctx context.Context, modelURL string, r worker.Range, backend func(src io.ReaderAt) agent.Loader, next http.RoundTripper, store Store, now func() time.Time) (LoadReport, error) {
	span := &rangeSpan{next: next, now: now}
	ct := &CachingTransport{Next: span, Store: store}
	client := &http.Client{Transport: ct, Timeout: 10 * time.Minute}
	src := &rangeSource{client: client}
	src.setURL(modelURL)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Sys
	start := now()
	size, err := headSize(ctx, client, modelURL)
	if err != nil {
		return LoadReport{}, err
	}
	m, err := model.Load(src, size)
	if err != nil {
		return LoadReport{}, fmt.Errorf("%w: model header: %w", ErrLoadBench, err)
	}
	if r.End == 0 && !r.First && !r.Last {
		r = worker.Range{Begin: 0, End: m.Config.Layers, First: true, Last: true}
	}
	restore := collectOftenWhileLoading()
	c, err := backend(src)(ctx, m, r, 0) // the backend's own batch: this measures the load
	restore()
	if err != nil {
		return LoadReport{}, fmt.Errorf("%w: %w", ErrLoadBench, err)
	}
	secs := now().Sub(start).Seconds()
	if cl, ok := c.(interface{ Close() }); ok {
		cl.Close()
	}
	fetched, cached := ct.Bytes()
	runtime.ReadMemStats(&ms)
	rep := LoadReport{StageBytes: StageBytes(m, r), Fetched: fetched, Cached: cached, Seconds: secs, HeapHighWater: ms.Sys, HeapBefore: before}
	if secs > 0 {
		rep.BytesPerSecond = float64(fetched+cached) / secs
	}
	if rep.StreamSeconds = span.seconds(); rep.StreamSeconds > 0 {
		rep.StreamBytesPerSecond = float64(fetched+cached) / rep.StreamSeconds
	}
	return rep, nil
}

// headSize is the model file's size, from a HEAD request (which also
// gives the CachingTransport the file's validators).
func headSize(ctx context.Context, client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrLoadBench, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: model %s: %w", ErrLoadBench, url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 0 {
		return 0, fmt.Errorf("%w: model %s: HEAD answered %s with length %d", ErrLoadBench, url, resp.Status, resp.ContentLength)
	}
	return resp.ContentLength, nil
}
