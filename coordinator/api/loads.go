package api

import (
	"net/http"
)

// WorkerLoad is how far a worker is in loading its stage's weights, as its
// last heartbeat said.
type WorkerLoad struct {
	WorkerID string `json:"worker_id"`
	// LoadedStage is the stage whose weights are loaded, -1 for none.
	LoadedStage int32 `json:"loaded_stage"`
	// Progress is the fraction of the stage being loaded that has arrived
	// (1 once loaded).
	Progress float32 `json:"progress"`
	// AgeMS is how long ago the heartbeat came.
	AgeMS int64 `json:"age_ms"`
}

// LoadReporter is a Backend that hears its workers' heartbeats: GET
// /api/loads lists their loading, for the dashboard.
type LoadReporter interface {
	Loads() []WorkerLoad
}

// handleLoads is GET /api/loads: {"workers": [WorkerLoad...]}.
func (s *server) handleLoads(w http.ResponseWriter, _ *http.Request) {
	lr, ok := s.b.(LoadReporter)
	loads := []WorkerLoad{}
	if ok {
		loads = append(loads, lr.Loads()...)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"workers": loads})
}
