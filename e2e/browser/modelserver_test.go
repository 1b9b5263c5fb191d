package browser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
)

// TestModelFromAnotherOrigin: tabs read their shards from a model server
// of another origin that allows the coordinator's pages (CORS) and wants a
// grant for exactly the stage's bytes; the text is llama2.c's. A page's
// request outside its shard, an expired grant and a page of another
// origin are refused with a clear error.
func TestModelFromAnotherOrigin(t *testing.T) {
	skipWithoutBrowser(t)
	key := []byte("browser-e2e-model-key-0123456789abcdef")
	signer, err := modelauth.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	modelURL := "http://" + srv.Listener.Addr().String() + "/stories260K.gguf"
	c := startCoordinator(t, clusterOptions{stages: 3, modelServer: modelURL, modelKey: key})
	var reads atomic.Int64
	data := bundled.Bytes()
	fs := &modelauth.FileServer{Signer: signer, Origins: []string{c.HTTPURL()},
		Open: func(name string) (io.ReadSeeker, int64, time.Time, error) {
			if name != "stories260K.gguf" {
				return nil, 0, time.Time{}, fmt.Errorf("no file %q", name)
			}
			reads.Add(1)
			return bytes.NewReader(data), int64(len(data)), time.Unix(1e9, 0), nil
		}}
	srv.Config.Handler = fs
	srv.Start()
	t.Cleanup(srv.Close)

	b := startBrowser(t)
	tabs := openWorkers(t, b, c, 3, onCPU)
	if reads.Load() == 0 {
		t.Fatal("the tabs loaded nothing from the model server")
	}
	if n := modelRangeRequests(t, c.HTTPURL()); n != 0 {
		t.Errorf("%d Range requests reached the coordinator's own model route", n)
	}
	if got, want := complete(t, c.HTTPURL()), oracle(t); got != want {
		t.Errorf("text\n got %q\nwant %q", got, want)
	}

	// From stage 0's page: its own grant does not reach the output head.
	first := tabs[0]
	var id string
	for _, tb := range tabs {
		if s := tb.status(); s.Stage == 0 {
			first, id = tb, s.WorkerID
		}
	}
	grant := fetchGrant(t, c.HTTPURL(), id)
	f, _ := bundled.Open()
	out, _ := f.File.Tensor("output.weight")
	tail := fmt.Sprintf("bytes=%d-%d", out.Offset+out.Size-64, out.Offset+out.Size-1)
	if status, body := pageFetch(t, first, grant.URL, tail); status != 403 || !strings.Contains(body, "range_outside_grant") || !strings.Contains(body, "not part of stage 0") {
		t.Errorf("a range outside the shard from the page: %d %s", status, body)
	}
	expired := modelauth.WithGrant(modelURL, signer.Sign(modelauth.Grant{File: "stories260K.gguf", Ranges: []modelauth.Range{{Start: 0, End: int64(len(data))}}, Expires: time.Now().Add(-time.Second)}))
	if status, body := pageFetch(t, first, expired, "bytes=0-15"); status != 403 || !strings.Contains(body, "grant_expired") {
		t.Errorf("an expired grant from the page: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", grant.URL, nil)
	req.Header.Set("Origin", "http://elsewhere.example")
	req.Header.Set("Range", "bytes=0-15")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a page of another origin: %v %v", resp, err)
	}
	if text := complete(t, c.HTTPURL()); text != oracle(t) {
		t.Errorf("after the refused requests: %q", text)
	}
}

func fetchGrant(t *testing.T, base, worker string) modelauth.GrantReply {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/model-grant?worker="+worker, nil)
	req.Header.Set("Authorization", "Bearer "+joinToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g modelauth.GrantReply
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != 200 {
		t.Fatalf("grant for %s: %s %v", worker, resp.Status, err)
	}
	return g
}

// pageFetch fetches url with a Range header from the page in tb: what the
// page's JavaScript can see of the answer.
func pageFetch(t *testing.T, tb *tab, url, rng string) (int, string) {
	t.Helper()
	var got struct {
		Status int
		Body   string
	}
	expr := fmt.Sprintf(`fetch(%q, {headers: {Range: %q}}).then(async r => ({status: r.status, body: await r.text()}))`, url, rng)
	if err := tb.eval(expr, &got); err != nil {
		t.Fatalf("fetch from the page: %v", err)
	}
	return got.Status, got.Body
}
