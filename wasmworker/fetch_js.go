package wasmworker

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"syscall/js"
)

// fetchRangeHelper is the page's function (web/static/worker.js; in a
// Node.js process tools/node/webgpu-preload.mjs) that fetches a URL and
// reads the whole body in JavaScript: one promise for Go to await, where
// net/http's fetch transport awaits one per network chunk (64 KiB), which
// costs more than the bytes themselves at weight-loading rates.
const fetchRangeHelper = "tabshardFetchRange"

// RangeFetchTransport answers GET requests with a Range header (the
// weights a worker streams, a few MiB each) through the page's
// tabshardFetchRange; everything else, and every request where the page
// has no such function, goes to Next.
type RangeFetchTransport struct {
	Next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t RangeFetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	helper := js.Global().Get(fetchRangeHelper)
	if req.Method != http.MethodGet || req.Header.Get("Range") == "" || helper.Type() != js.TypeFunction {
		return t.Next.RoundTrip(req)
	}
	headers := js.Global().Get("Headers").New()
	for k, vs := range req.Header {
		for _, v := range vs {
			headers.Call("append", k, v)
		}
	}
	init := js.Global().Get("Object").New()
	init.Set("method", req.Method)
	init.Set("headers", headers)
	abort := js.Global().Get("AbortController").New()
	init.Set("signal", abort.Get("signal"))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-req.Context().Done():
			abort.Call("abort")
		case <-stop:
		}
	}()
	r, err := await(req.Context(), helper.Invoke(req.URL.String(), init))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", req.URL.Redacted(), err)
	}
	return fetchedResponse(req, r), nil
}

// fetchedResponse turns the helper's {status, statusText, headers: [k, v,
// ...], body: Uint8Array} into an http.Response whose body is in Go
// memory.
func fetchedResponse(req *http.Request, r js.Value) *http.Response {
	h := http.Header{}
	kv := r.Get("headers")
	for i := 0; i+1 < kv.Length(); i += 2 {
		h.Add(kv.Index(i).String(), kv.Index(i+1).String())
	}
	body := bytesOf(r.Get("body"))
	status := r.Get("status").Int()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status: strconv.Itoa(status) + " " + r.Get("statusText").String(), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: &wholeBody{Reader: bytes.NewReader(body), b: body}, ContentLength: int64(len(body)), Request: req,
	}
}

// wholeBody is a response body already whole in memory: Bytes gives it
// without a copy (CachingTransport keeps it as it is).
type wholeBody struct {
	*bytes.Reader
	b []byte
}

func (b *wholeBody) Bytes() []byte { return b.b }
func (b *wholeBody) Close() error  { return nil }
