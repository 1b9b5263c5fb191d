package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
)

// modelServer is a model server of another origin: modelauth.FileServer
// with the bundled model at /stories260K.gguf, counting the Range reads
// it serves per granted stage.
type modelServer struct {
	URL string

	mu    sync.Mutex
	reads map[int]int // stage → Range requests served
}

func startModelServer(t *testing.T, key []byte, skew time.Duration) *modelServer {
	t.Helper()
	signer, err := modelauth.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ms := &modelServer{reads: map[int]int{}}
	data := bundled.Bytes()
	fs := &modelauth.FileServer{Signer: signer, Now: func() time.Time { return time.Now().Add(skew) },
		Open: func(name string) (io.ReadSeeker, int64, time.Time, error) {
			if name != "stories260K.gguf" {
				return nil, 0, time.Time{}, fmt.Errorf("no file %q", name)
			}
			return bytes.NewReader(data), int64(len(data)), time.Unix(1e9, 0), nil
		}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.ServeHTTP(w, r)
		if g, err := modelauth.Peek(r.URL.Query().Get("grant")); err == nil && r.Header.Get("Range") != "" {
			ms.mu.Lock()
			ms.reads[g.Stage]++
			ms.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	ms.URL = srv.URL + "/stories260K.gguf"
	return ms
}

var modelKey = []byte("e2e-model-server-key-0123456789abcdef")

// TestModelServerOfAnotherOrigin: native workers read their stages from a
// model server of another origin with grants from the coordinators, and
// a standby promoted mid-generation goes on; the text is llama2.c's.
func TestModelServerOfAnotherOrigin(t *testing.T) {
	ms := startModelServer(t, modelKey, 0)
	out := play(t, Scenario{Options: Options{Seed: 70, ModelServerURL: ms.URL, ModelKey: modelKey},
		Faults: faults(t, "kill:stage=middle@token=20")})
	checkFailover(t, out)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for stage := range 3 {
		if ms.reads[stage] == 0 {
			t.Errorf("no worker read stage %d from the model server (reads per stage: %v)", stage, ms.reads)
		}
	}
}

// TestModelServerRefusals: workers whose grants the model server refuses
// (signed with another key; expired on its clock) do not load, and say why.
func TestModelServerRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		key  []byte // the model server's
		skew time.Duration
		says string
	}{
		{"another key", []byte("not-the-coordinators-key-0123456789abcdef"), 0, "grant_invalid): invalid grant: bad signature"},
		{"clocks apart", modelKey, 10 * time.Minute, "grant_expired): grant expired at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms := startModelServer(t, c.key, c.skew)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := Start(ctx, Options{Seed: 71, Coordinators: 1, Stages: 1, ModelServerURL: ms.URL, ModelKey: modelKey})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			e, err := cl.Timeline().Wait(ctx, 0, func(e Entry) bool { return e.Kind == KindWorker && e.Fields["err"] != "" })
			if err != nil {
				t.Fatalf("no worker reported a failed load: %v", err)
			}
			if msg := e.Fields["err"]; !strings.Contains(msg, c.says) || !strings.Contains(msg, ms.URL) {
				t.Errorf("load error %q, want it to name %s and say %q", msg, ms.URL, c.says)
			}
			for _, e := range cl.Timeline().Entries() {
				if e.Kind == KindWorker && strings.Contains(e.Text, " loaded stage ") {
					t.Errorf("a worker loaded a stage: %s", e.Text)
				}
			}
		})
	}
}
