package modelauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/worker"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func signer(t *testing.T) *Signer {
	t.Helper()
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	s := signer(t)
	now := time.Unix(1_800_000_000, 0)
	g := Grant{File: "m.gguf", Stage: 2, Ranges: []Range{{100, 200}, {0, 10}, {10, 20}}, Expires: now.Add(time.Minute)}
	tok := s.Sign(g)
	got, err := s.Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.File != "m.gguf" || got.Stage != 2 || len(got.Ranges) != 2 || got.Ranges[0] != (Range{0, 20}) || !got.Expires.Equal(g.Expires) {
		t.Errorf("verified %+v", got)
	}
	if _, err := s.Verify(tok, now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	other, _ := NewSigner(bytes.Repeat([]byte{7}, 32))
	if _, err := other.Verify(tok, now); !errors.Is(err, ErrBadGrant) {
		t.Errorf("another key: %v", err)
	}
	// Widening the ranges breaks the signature.
	p, sig, _ := strings.Cut(tok, ".")
	raw, _ := b64.DecodeString(p)
	forged := b64.EncodeToString(bytes.Replace(raw, []byte("[100,200]"), []byte("[100,999]"), 1)) + "." + sig
	if _, err := s.Verify(forged, now); !errors.Is(err, ErrBadGrant) {
		t.Errorf("forged ranges: %v", err)
	}
	for _, bad := range []string{"", "x", "x.y", tok + "x"} {
		if _, err := s.Verify(bad, now); !errors.Is(err, ErrBadGrant) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestCheck(t *testing.T) {
	g := Grant{Stage: 1, Ranges: []Range{{0, 100}, {200, 300}}}
	for _, c := range []struct {
		method, rng string
		err         error
	}{
		{"HEAD", "", nil},
		{"GET", "bytes=0-99", nil},
		{"GET", "bytes=200-299, 10-20", nil},
		{"GET", "bytes=50-", ErrOutside}, // to the end of the 1000-byte file
		{"GET", "bytes=99-200", ErrOutside},
		{"GET", "bytes=-50", ErrOutside},
		{"GET", "bytes=300-300", ErrOutside},
		{"GET", "", ErrNotAllowed},
		{"GET", "items=0-1", ErrNotAllowed},
		{"GET", "bytes=5-1", ErrNotAllowed},
		{"GET", "bytes=a-b", ErrNotAllowed},
		{"PUT", "bytes=0-1", ErrNotAllowed},
	} {
		err := g.Check(c.method, c.rng, 1000)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s %q: %v, want %v", c.method, c.rng, err, c.err)
		}
	}
	if err := (Grant{Ranges: []Range{{900, 1000}}}).Check("GET", "bytes=-50", 1000); err != nil {
		t.Errorf("suffix range inside: %v", err)
	}
}

func stories(t *testing.T) (*gguf.File, []byte) {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	return m.File, bundled.Bytes()
}

func TestStageRanges(t *testing.T) {
	f, _ := stories(t)
	stages := []worker.Range{{Begin: 0, End: 2, First: true}, {Begin: 2, End: 4}, {Begin: 4, End: 5, Last: true}}
	seen := map[string]int{}
	for _, r := range stages {
		for _, ti := range StageTensors(f, r) {
			seen[ti.Name]++
		}
		rs := StageRanges(f, r)
		if rs[0].Start != 0 || rs[0].End < f.DataOffset {
			t.Errorf("%+v: the header is not granted: %v", r, rs[0])
		}
	}
	for _, ti := range f.Tensors {
		if seen[ti.Name] != 1 {
			t.Errorf("%s is read by %d stages, want 1", ti.Name, seen[ti.Name])
		}
	}
	g := Grant{Ranges: StageRanges(f, stages[1])}
	embd, _ := f.Tensor("token_embd.weight")
	if g.Covers(embd.Offset+embd.Size-10, embd.Offset+embd.Size) && embd.Offset+embd.Size > f.DataOffset+HeaderSlack {
		t.Error("stage 1's grant covers the embedding")
	}
}

// fileServer serves the bundled model behind grants.
func fileServer(t *testing.T, now func() time.Time) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	_, data := stories(t)
	var opened atomic.Int64
	fs := &FileServer{Signer: signer(t), Origins: []string{"https://tabs.example"}, Now: now,
		Open: func(name string) (io.ReadSeeker, int64, time.Time, error) {
			if name != "stories260K.gguf" {
				return nil, 0, time.Time{}, errors.New("no such file")
			}
			opened.Add(1)
			return bytes.NewReader(data), int64(len(data)), time.Unix(1e9, 0), nil
		}}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return srv, &opened
}

type answer struct {
	code int
	body string
	h    http.Header
}

func do(t *testing.T, method, url string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

func TestFileServer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	srv, _ := fileServer(t, clock)
	f, data := stories(t)
	is := &Issuer{Signer: signer(t), File: f, URL: srv.URL + "/stories260K.gguf", JoinToken: "jt", Now: clock, TTL: time.Minute}
	stage1 := worker.Range{Begin: 2, End: 4}
	reply := is.Issue(1, stage1)
	blk, _ := f.Tensor("blk.2.attn_q.weight")
	embd, _ := f.Tensor("token_embd.weight")
	inside := "bytes=" + itoa(blk.Offset) + "-" + itoa(blk.Offset+blk.Size-1)
	outside := "bytes=" + itoa(embd.Offset+embd.Size-16) + "-" + itoa(embd.Offset+embd.Size-1)

	a := do(t, "GET", reply.URL, "Range", inside)
	if a.code != http.StatusPartialContent || a.body != string(data[blk.Offset:blk.Offset+blk.Size]) {
		t.Fatalf("inside the grant: %d", a.code)
	}
	if a := do(t, "HEAD", reply.URL); a.code != 200 || a.h.Get("Content-Length") != itoa(int64(len(data))) {
		t.Errorf("HEAD: %d %v", a.code, a.h)
	}
	if a := do(t, "GET", srv.URL+"/stories260K.gguf", "Range", inside, "Authorization", "Bearer "+reply.Grant); a.code != 206 {
		t.Errorf("bearer grant: %d %s", a.code, a.body)
	}
	refused := []struct {
		name, method, url, code string
		header                  []string
	}{
		{"outside the stage", "GET", reply.URL, "range_outside_grant", []string{"Range", outside}},
		{"whole file", "GET", reply.URL, "request_not_allowed", nil},
		{"no grant", "GET", srv.URL + "/stories260K.gguf", "grant_missing", []string{"Range", inside}},
		{"another file", "GET", WithGrant(srv.URL+"/other.gguf", reply.Grant), "grant_wrong_file", []string{"Range", inside}},
		{"tampered", "GET", WithGrant(reply.URL, reply.Grant+"A"), "grant_invalid", []string{"Range", inside}},
		{"origin not allowed", "GET", reply.URL, "origin_not_allowed", []string{"Range", inside, "Origin", "https://evil.example"}},
		// Finding 11 of issue 11: ranges adding up past the file, and an
		// If-Range that does not match, made net/http answer 200 with the
		// whole file.
		{"ranges past the file", "GET", reply.URL, "request_not_allowed", []string{"Range", repeatRange(inside, len(data)/int(blk.Size)+1)}},
		{"If-Range mismatch", "GET", reply.URL, "request_not_allowed", []string{"Range", inside, "If-Range", "Tue, 01 Jan 2002 00:00:00 GMT"}},
		{"If-Range etag", "GET", reply.URL, "request_not_allowed", []string{"Range", inside, "If-Range", `"v1"`}},
	}
	for _, c := range refused {
		a := do(t, c.method, c.url, c.header...)
		var e struct {
			Error struct{ Message, Code string }
		}
		json.Unmarshal([]byte(a.body), &e)
		if a.code != http.StatusForbidden || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want 403 %s", c.name, a.code, a.body, c.code)
		}
	}
	if a := do(t, "GET", reply.URL, "Range", inside, "If-Range", time.Unix(1e9, 0).UTC().Format(http.TimeFormat)); a.code != 206 || a.body != string(data[blk.Offset:blk.Offset+blk.Size]) {
		t.Errorf("If-Range matching: %d, want 206 with the range", a.code)
	}
	if a := do(t, "GET", reply.URL, "Range", repeatRange(inside, 3)); a.code != 206 || len(a.body) >= len(data) {
		t.Errorf("a range three times: %d, %d bytes; want 206 with the range's bytes only", a.code, len(a.body))
	}
	// CORS for an allowed page, preflight included.
	a = do(t, "GET", reply.URL, "Range", inside, "Origin", "https://tabs.example")
	if a.code != 206 || a.h.Get("Access-Control-Allow-Origin") != "https://tabs.example" || !strings.Contains(a.h.Get("Access-Control-Expose-Headers"), "Content-Range") {
		t.Errorf("CORS GET: %d %v", a.code, a.h)
	}
	a = do(t, "OPTIONS", reply.URL, "Origin", "https://tabs.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
	if a.code != http.StatusNoContent || !strings.Contains(a.h.Get("Access-Control-Allow-Headers"), "Range") {
		t.Errorf("preflight: %d %v", a.code, a.h)
	}
	// The grant runs out.
	now = now.Add(2 * time.Minute)
	if a := do(t, "GET", reply.URL, "Range", inside); a.code != 403 || !strings.Contains(a.body, "grant_expired") {
		t.Errorf("expired: %d %s", a.code, a.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// repeatRange is the Range header asking for rng's range n times.
func repeatRange(rng string, n int) string {
	one := strings.TrimPrefix(rng, "bytes=")
	return "bytes=" + strings.Repeat(one+",", n-1) + one
}

// A 200 for a GET never goes out through partialOnly, whatever the handler
// behind it does: it becomes the refusal, and the body is dropped.
func TestPartialOnly(t *testing.T) {
	rec := httptest.NewRecorder()
	p := &partialOnly{ResponseWriter: rec, refuse: func() { writeError(rec, http.StatusForbidden, errWidened) }}
	p.Header().Set("Content-Length", "5")
	p.Write([]byte("GGUF-BYTES"))
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "GGUF-BYTES") || rec.Header().Get(HeaderErrorCode) != "request_not_allowed" {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	p = &partialOnly{ResponseWriter: rec, refuse: func() { t.Error("a 206 was refused") }}
	p.WriteHeader(http.StatusPartialContent)
	p.Write([]byte("part"))
	if rec.Code != http.StatusPartialContent || rec.Body.String() != "part" {
		t.Errorf("206: got %d %q", rec.Code, rec.Body.String())
	}
}

func TestIssuerAndClient(t *testing.T) {
	srv, _ := fileServer(t, nil)
	f, data := stories(t)
	stageOf := map[string]int{"w1": 0, "w2": 1}
	ranges := []worker.Range{{Begin: 0, End: 2, First: true}, {Begin: 2, End: 5, Last: true}}
	is := &Issuer{Signer: signer(t), File: f, URL: srv.URL + "/stories260K.gguf", JoinToken: "jt",
		Stage: func(id string) (int, worker.Range, bool) {
			i, ok := stageOf[id]
			if !ok {
				return 0, worker.Range{}, false
			}
			return i, ranges[i], true
		}}
	var grants atomic.Int64
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		grants.Add(1)
		is.ServeHTTP(w, r)
	}))
	defer coord.Close()
	if a := do(t, "GET", coord.URL+"?worker=w1", "Authorization", "Bearer wrong"); a.code != 403 {
		t.Errorf("wrong join token: %d", a.code)
	}
	if a := do(t, "GET", coord.URL+"?worker=w9", "Authorization", "Bearer jt"); a.code != 404 {
		t.Errorf("worker without a stage: %d", a.code)
	}

	id := "w1"
	ct := &ClientTransport{Next: http.DefaultTransport, Worker: func() string { return id }}
	ct.Configure(srv.URL+"/stories260K.gguf", coord.URL, "jt")
	client := &http.Client{Transport: ct}
	read := func(ti string) (int, error) {
		info, _ := f.Tensor(ti)
		req, _ := http.NewRequest("GET", srv.URL+"/stories260K.gguf", nil)
		req.Header.Set("Range", "bytes="+itoa(info.Offset)+"-"+itoa(info.Offset+info.Size-1))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 206 && string(b) != string(data[info.Offset:info.Offset+info.Size]) {
			t.Errorf("%s: wrong bytes", ti)
		}
		return resp.StatusCode, nil
	}
	if code, err := read("token_embd.weight"); code != 206 || err != nil {
		t.Fatalf("stage 0 reads its embedding: %d %v", code, err)
	}
	if code, _ := read("blk.3.attn_q.weight"); code != 403 {
		t.Errorf("stage 0 read stage 1's block: %d", code)
	}
	// The worker is promoted to stage 1: the refused request renews the
	// grant, for its new stage, and goes through.
	id = "w2"
	if code, _ := read("blk.3.attn_q.weight"); code != 206 {
		t.Errorf("after the move: %d", code)
	}
	if n := grants.Load(); n != 5 {
		t.Errorf("%d grant requests, want 5 (2 refused + first + renewal after a refusal ×2)", n)
	}
	// Other addresses pass through without a grant.
	if a, err := client.Get(coord.URL + "?worker=w1"); err != nil || a.StatusCode != 403 {
		t.Errorf("unguarded request: %v %v", a, err)
	}
}

// TestRefusal: a client reads why it was refused, with the sentinel of the
// code, from a HEAD answer's headers as from a GET answer's JSON body.
func TestRefusal(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv, _ := fileServer(t, func() time.Time { return now })
	f, _ := stories(t)
	is := &Issuer{Signer: signer(t), File: f, URL: srv.URL + "/stories260K.gguf", Now: func() time.Time { return now.Add(-time.Hour) }}
	expired := is.Issue(0, worker.Range{Begin: 0, End: 1, First: true}).URL
	for _, c := range []struct {
		name, method, url string
		want              error
		message           string
	}{
		{"HEAD without a grant", "HEAD", srv.URL + "/stories260K.gguf", ErrNoGrant, "a grant from the coordinator (?grant=...)"},
		{"HEAD with an expired grant", "HEAD", expired, ErrExpired, "ask the coordinator for a new one"},
		{"GET with an expired grant", "GET", expired, ErrExpired, "ask the coordinator for a new one"},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		req.Header.Set("Range", "bytes=0-15")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = Refusal(resp)
		resp.Body.Close()
		if !errors.Is(err, c.want) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.message) || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.want, c.message)
		}
	}
	// Without the headers the JSON body says it.
	body := `{"error": {"message": "bytes 0-9 are not part of stage 2", "code": "range_outside_grant"}}`
	resp := &http.Response{StatusCode: 403, Status: "403 Forbidden", Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
	if err := Refusal(resp); !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), "not part of stage 2") {
		t.Errorf("from the body: %v", err)
	}
	resp = &http.Response{StatusCode: 502, Status: "502 Bad Gateway", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("upstream down\n"))}
	if err := Refusal(resp); !errors.Is(err, ErrRefused) || errors.Is(err, ErrNoGrant) || !strings.Contains(err.Error(), "502 Bad Gateway): upstream down") {
		t.Errorf("not a FileServer's answer: %v", err)
	}
	if err := Refusal(&http.Response{StatusCode: 206}); err != nil {
		t.Errorf("a 206 is no refusal: %v", err)
	}
	// A grant the coordinator refuses: the transport's error says why.
	is.JoinToken, is.Stage = "jt", func(string) (int, worker.Range, bool) { return 0, worker.Range{}, false }
	coord := httptest.NewServer(is)
	defer coord.Close()
	ct := &ClientTransport{Next: http.DefaultTransport, Worker: func() string { return "w7" }}
	ct.Configure(srv.URL+"/stories260K.gguf", coord.URL, "not-the-token")
	_, err := (&http.Client{Transport: ct}).Head(srv.URL + "/stories260K.gguf")
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "wrong or missing join token") {
		t.Errorf("wrong join token: %v", err)
	}
	ct.Configure(srv.URL+"/stories260K.gguf", coord.URL, "jt")
	_, err = (&http.Client{Transport: ct}).Head(srv.URL + "/stories260K.gguf")
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), `worker "w7" has no stage`) {
		t.Errorf("no stage: %v", err)
	}
}

// TestGrantAwaitsEpoch: a worker names the epoch it is in; a coordinator
// that has not applied that plan yet waits for it before it signs.
func TestGrantAwaitsEpoch(t *testing.T) {
	srv, _ := fileServer(t, nil)
	f, _ := stories(t)
	applied := make(chan uint64, 1)
	var epoch atomic.Uint64 // the coordinator's applied epoch
	epoch.Store(3)
	is := &Issuer{Signer: signer(t), File: f, URL: srv.URL + "/stories260K.gguf", JoinToken: "jt",
		Stage: func(id string) (int, worker.Range, bool) {
			if epoch.Load() < 4 { // the worker has a stage from epoch 4 on
				return 0, worker.Range{}, false
			}
			return 0, worker.Range{Begin: 0, End: 1, First: true}, true
		},
		AwaitEpoch: func(ctx context.Context, e uint64) error {
			applied <- e
			epoch.Store(e) // the plan commits here meanwhile
			return nil
		}}
	coord := httptest.NewServer(is)
	defer coord.Close()
	ct := &ClientTransport{Next: http.DefaultTransport, Worker: func() string { return "w1" }, Epoch: func() uint64 { return 4 }}
	ct.Configure(srv.URL+"/stories260K.gguf", coord.URL, "jt")
	resp, err := (&http.Client{Transport: ct}).Head(srv.URL + "/stories260K.gguf")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if e := <-applied; e != 4 {
		t.Errorf("the issuer waited for epoch %d, want 4", e)
	}
}
