package agent

import (
	"log/slog"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestHeldIsBounded(t *testing.T) {
	var m Metrics
	h := held{max: 4, maxBytes: 1 << 20, metrics: &m, log: slog.New(slog.DiscardHandler)}
	// The next epoch's inputs, then a flood from a far-future epoch.
	for i := range 2 {
		h.add(&tabshardv1.Activation{Epoch: 5, FirstPosition: uint32(i)})
	}
	for i := range 100 {
		h.add(&tabshardv1.Activation{Epoch: 1005, FirstPosition: uint32(i), Payload: make([]byte, 100)})
	}
	if len(h.as) != 4 || m.DroppedActivations.Load() != 98 {
		t.Fatalf("held %d, dropped %d", len(h.as), m.DroppedActivations.Load())
	}
	next := 0
	for _, a := range h.as {
		if a.GetEpoch() == 5 {
			next++
		}
	}
	if next != 2 {
		t.Errorf("the flood pushed out the next epoch's inputs: %d of 2 left", next)
	}
	// Bytes bound the buffer too.
	h.take()
	h.maxBytes = 1000
	for range 4 {
		h.add(&tabshardv1.Activation{Epoch: 6, Payload: make([]byte, 400)})
	}
	if len(h.as) != 2 || h.bytes > 1000 {
		t.Errorf("held %d inputs of %d bytes, want at most 1000 bytes", len(h.as), h.bytes)
	}
	if got := h.take(); len(got) != 2 || len(h.as) != 0 || h.bytes != 0 {
		t.Errorf("take: %d, left %d, %d bytes", len(got), len(h.as), h.bytes)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:8080/model/x", "http://127.0.0.1:8080", true},
		{"HTTP://Host:80/a", "http://host:80/b", true},
		{"http://127.0.0.1:8081/model/x", "http://127.0.0.1:8080", false},
		{"https://127.0.0.1:8080/model/x", "http://127.0.0.1:8080", false},
		{"http://evil.example/model/x", "http://127.0.0.1:8080", false},
		{"/model/x", "http://127.0.0.1:8080", false},
		{"http://127.0.0.1:8080/x", "", false},
	} {
		if got := sameOrigin(tc.a, tc.b); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestUseModelURL(t *testing.T) {
	m := &member{cfg: Config{Coordinator: "http://127.0.0.1:8080", Metrics: &Metrics{}, Logger: slog.New(slog.DiscardHandler)},
		info: joinInfo{ModelURL: "http://127.0.0.1:8080/model/m"}, joinModelURL: "http://models.example:9000/m.gguf"}
	m.useModelURL("http://127.0.0.1:9999/model/m")
	m.useModelURL("http://evil.example/m.gguf")
	if m.info.ModelURL != "http://127.0.0.1:8080/model/m" || m.cfg.Metrics.RejectedModelURLs.Load() != 2 {
		t.Errorf("model URL %s after two foreign ones (%d refused)", m.info.ModelURL, m.cfg.Metrics.RejectedModelURLs.Load())
	}
	m.useModelURL("http://models.example:9000/m.gguf")
	if m.info.ModelURL != "http://models.example:9000/m.gguf" {
		t.Errorf("the model server's URL was refused: %s", m.info.ModelURL)
	}
}
