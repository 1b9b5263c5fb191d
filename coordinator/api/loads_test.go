package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tabshard/tabshard/coordinator/api"
)

// withLoads is a backend that hears its workers' heartbeats.
type withLoads struct {
	api.Backend
	loads []api.WorkerLoad
}

func (b withLoads) Loads() []api.WorkerLoad { return b.loads }

// GET /api/loads lists the workers' loading from a backend that knows it,
// an empty list from one that does not, and refuses other methods.
func TestLoads(t *testing.T) {
	want := []api.WorkerLoad{{WorkerID: "w1", LoadedStage: -1, Progress: 0.25, AgeMS: 120}, {WorkerID: "w2", LoadedStage: 1, Progress: 1}}
	srv := httptest.NewServer(api.New(withLoads{Backend: newFakeBackend(t), loads: want}, api.Options{Metrics: api.NewMetrics(), KeepAlive: -1}))
	defer srv.Close()
	var got struct {
		Workers []api.WorkerLoad `json:"workers"`
	}
	resp, err := http.Get(srv.URL + "/api/loads")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if len(got.Workers) != 2 || got.Workers[0] != want[0] || got.Workers[1] != want[1] {
		t.Errorf("loads %+v, want %+v", got.Workers, want)
	}

	e := newEnv(t)
	var none struct {
		Workers []api.WorkerLoad `json:"workers"`
	}
	readJSON(t, e.do(t, "GET", "/api/loads", ""), 200, &none)
	if none.Workers == nil || len(none.Workers) != 0 {
		t.Errorf("a backend without heartbeats: %+v", none)
	}
	var refused openAIError
	readJSON(t, e.do(t, "POST", "/api/loads", "{}"), 405, &refused)
}
