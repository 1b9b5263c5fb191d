package wasmworker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
	"github.com/tabshard/tabshard/worker/agent"
)

// MeasureLoad loads a stage over HTTP Range as a worker does and counts
// its bytes: from the network the first time, from the store the second.
func TestMeasureLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(path, synth.Tiny, 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/m.gguf" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path)
	}))
	defer srv.Close()
	cpu := func(io.ReaderAt) agent.Loader { return agent.CPU }
	store := &MemStore{}
	first, err := MeasureLoad(context.Background(), srv.URL+"/m.gguf", worker.Range{}, cpu, http.DefaultTransport, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if first.StageBytes <= 0 || first.StageBytes > st.Size() || first.Fetched < first.StageBytes || first.Cached != 0 ||
		first.Seconds <= 0 || first.HeapHighWater == 0 || first.StreamSeconds <= 0 {
		t.Fatalf("first load: %+v", first)
	}
	again, err := MeasureLoad(context.Background(), srv.URL+"/m.gguf", worker.Range{Begin: 0, End: 1, First: true}, cpu, http.DefaultTransport, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cached < again.StageBytes || again.StageBytes >= first.StageBytes {
		t.Errorf("second load of block 0 and the embedding: %+v", again)
	}
	_, err = MeasureLoad(context.Background(), srv.URL+"/missing/", worker.Range{}, cpu, http.DefaultTransport, nil, time.Now)
	if !errors.Is(err, ErrLoadBench) {
		t.Errorf("a missing model: %v", err)
	}
}
