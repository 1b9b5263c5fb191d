package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

var testKey = []byte("agent-test-model-key-0123456789abcdef")

// guarded is a model server of another origin (modelauth.FileServer with
// the bundled model) and a coordinator that issues its grants, with the
// clocks and the plan a test sets.
type guarded struct {
	modelURL, grantURL string
	grants, ranges     atomic.Int64 // grant requests; Range requests served

	mu      sync.Mutex
	stageOf map[string]int // worker id → stage index of stages
	skew    time.Duration  // how far the model server's clock runs ahead
}

// set changes the plan and the model server's clock.
func (g *guarded) set(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f()
}

var stages = []*tabshardv1.Stage{
	{Index: 0, LayerBegin: 0, LayerEnd: 2, Embedding: true},
	{Index: 1, LayerBegin: 2, LayerEnd: 4},
	{Index: 2, LayerBegin: 4, LayerEnd: 5, OutputHead: true},
}

func startGuarded(t *testing.T) *guarded {
	t.Helper()
	signer, err := modelauth.NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	g := &guarded{stageOf: map[string]int{}}
	data := bundled.Bytes()
	fs := &modelauth.FileServer{Signer: signer, Now: func() time.Time {
		g.mu.Lock()
		defer g.mu.Unlock()
		return time.Now().Add(g.skew)
	},
		Open: func(name string) (io.ReadSeeker, int64, time.Time, error) {
			if name != "stories260K.gguf" {
				return nil, 0, time.Time{}, fmt.Errorf("no file %q", name)
			}
			return bytes.NewReader(data), int64(len(data)), time.Unix(1e9, 0), nil
		}}
	models := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		fs.ServeHTTP(rec, r)
		if rec.Code == http.StatusPartialContent {
			g.ranges.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(models.Close)
	g.modelURL = models.URL + "/stories260K.gguf"
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	plan := func() *tabshardv1.Plan {
		g.mu.Lock()
		defer g.mu.Unlock()
		p := &tabshardv1.Plan{}
		for _, s := range stages {
			s := &tabshardv1.Stage{Index: s.Index, LayerBegin: s.LayerBegin, LayerEnd: s.LayerEnd, Embedding: s.Embedding, OutputHead: s.OutputHead}
			for id, i := range g.stageOf {
				if i == int(s.Index) {
					s.DeviceId = id
				}
			}
			p.Stages = append(p.Stages, s)
		}
		return p
	}
	is := &modelauth.Issuer{Signer: signer, File: m.File, URL: g.modelURL, JoinToken: "jt", Stage: modelauth.PlanStages(plan)}
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.grants.Add(1)
		is.ServeHTTP(w, r)
	}))
	t.Cleanup(coord.Close)
	g.grantURL = coord.URL + "/api/model-grant"
	return g
}

// member is a joined worker as Run makes it, for join info info.
func (g *guarded) member(t *testing.T, id string, info joinInfo) *member {
	t.Helper()
	cfg := Config{JoinToken: "jt"}
	cfg.defaults()
	cfg = withModelGrants(cfg, info)
	cfg.grants.joined(id)
	return &member{cfg: cfg, id: id}
}

// TestLoadFromGuardedModelServer: a native worker loads its stage from a
// model server of another origin with a grant for it, and the stage
// computes what one loaded from the file does; a worker moved to another
// stage gets a new grant.
func TestLoadFromGuardedModelServer(t *testing.T) {
	g := startGuarded(t)
	g.set(func() { g.stageOf["w1"] = 1 })
	m := g.member(t, "w1", joinInfo{ModelURL: g.modelURL, ModelGrantURL: g.grantURL})
	ctx := context.Background()
	st, err := m.load(ctx, g.modelURL, stages[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.grants.Load() != 1 || g.ranges.Load() == 0 {
		t.Errorf("%d grants asked for, %d ranges served; want 1 grant and ranges", g.grants.Load(), g.ranges.Load())
	}
	local, _ := bundled.Open()
	want, err := CPU(ctx, local, worker.Range{Begin: 2, End: 4}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := forward(t, st), forward(t, want); !slices.Equal(got, exp) {
		t.Errorf("the stage loaded over grants computes differently from the file's")
	}

	// Promoted to the last stage: the load asks for a grant of its own.
	g.set(func() { g.stageOf["w1"] = 2 })
	if _, err := m.load(ctx, g.modelURL, stages[2], 0); err != nil {
		t.Fatalf("after a move to stage 2: %v", err)
	}
	if n := g.grants.Load(); n != 2 {
		t.Errorf("%d grant requests after the move, want 2", n)
	}
}

// forward runs one position of a middle stage on a fixed input.
func forward(t *testing.T, st Compute) []float32 {
	t.Helper()
	kv, err := st.NewKV(worker.Options{Positions: 8})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, st.Config().Dim)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	if err := st.Forward(kv, x, 0, 1); err != nil {
		t.Fatal(err)
	}
	return x
}

// TestGuardedModelServerRefusals: without grants, with grants that expired
// before they arrive, or for a worker the coordinator gives no stage, a
// load fails with an error that says why.
func TestGuardedModelServerRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(g *guarded) joinInfo
		want  error
		says  string
	}{
		{"no grant URL", func(g *guarded) joinInfo {
			return joinInfo{ModelURL: g.modelURL} // a coordinator that does not issue grants
		}, modelauth.ErrNoGrant, "grant_missing): no grant: model files are read with a grant from the coordinator (?grant=...) (the coordinator's /api/join names no model_grant_url"},
		{"clocks apart", func(g *guarded) joinInfo {
			g.set(func() { g.skew = 10 * time.Minute }) // every grant has expired on the model server's clock
			return joinInfo{ModelURL: g.modelURL, ModelGrantURL: g.grantURL}
		}, modelauth.ErrExpired, "grant_expired): grant expired at"},
		{"no stage", func(g *guarded) joinInfo {
			g.set(func() { delete(g.stageOf, "w1") })
			return joinInfo{ModelURL: g.modelURL, ModelGrantURL: g.grantURL}
		}, modelauth.ErrNotAllowed, `worker "w1" has no stage in the current plan`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := startGuarded(t)
			g.set(func() { g.stageOf["w1"] = 0 })
			m := g.member(t, "w1", c.setup(g))
			_, err := m.load(ctx, g.modelURL, stages[0], 0)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), g.modelURL) {
				t.Fatalf("load: %v\nwant %v saying %q about %s", err, c.want, c.says, g.modelURL)
			}
			if regexp.MustCompile(`grant=\w{8}`).MatchString(err.Error()) {
				t.Errorf("the error shows a grant token: %v", err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	// A range outside the stage's grant is refused too (stage 0 reading the
	// output head).
	g := startGuarded(t)
	g.set(func() { g.stageOf["w1"] = 0 })
	m := g.member(t, "w1", joinInfo{ModelURL: g.modelURL, ModelGrantURL: g.grantURL})
	m.cfg.grants.model(g.modelURL)
	src, err := openRange(ctx, m.cfg.HTTP, g.modelURL)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := bundled.Open()
	out, _ := local.File.Tensor("output_norm.weight")
	_, err = src.ReadAt(make([]byte, 16), out.Offset+out.Size-16)
	if !errors.Is(err, modelauth.ErrOutside) || !strings.Contains(err.Error(), "not part of stage 0") {
		t.Errorf("a range outside the grant: %v", err)
	}
}

// TestTabTransportKeepsItsGrants: a worker whose HTTP client adds grants
// itself (a tab's) and one whose coordinator names no grant URL keep
// their client.
func TestTabTransportKeepsItsGrants(t *testing.T) {
	client := &http.Client{}
	for _, c := range []struct {
		cfg  Config
		info joinInfo
	}{
		{Config{HTTP: client, HTTPHasGrants: true}, joinInfo{ModelGrantURL: "http://c/api/model-grant"}},
		{Config{HTTP: client}, joinInfo{}},
	} {
		if got := withModelGrants(c.cfg, c.info); got.HTTP != client || got.grants != nil {
			t.Errorf("%+v: the client was replaced", c.info)
		}
	}
	got := withModelGrants(Config{HTTP: client}, joinInfo{ModelGrantURL: "http://c/api/model-grant"})
	if got.HTTP == client || got.grants == nil || client.Transport != nil {
		t.Errorf("a native worker's client does not add grants, or the caller's client changed")
	}
}

// TestLoadGetsPlanBatch: the stage a worker loads is built for the plan's
// prefill batch (the Loader gets it), and the runner cuts prompts into
// pieces of it; a plan that names none leaves the backend its default
// and the pieces at 256.
func TestLoadGetsPlanBatch(t *testing.T) {
	if prefillChunk(48) != 48 || prefillChunk(0) != 256 {
		t.Fatalf("pieces of %d for a batch of 48, %d for none", prefillChunk(48), prefillChunk(0))
	}
	g := startGuarded(t)
	g.set(func() { g.stageOf["w1"] = 1 })
	m := g.member(t, "w1", joinInfo{ModelURL: g.modelURL, ModelGrantURL: g.grantURL})
	m.info.ModelURL = g.modelURL
	var asked []int
	m.cfg.Load = func(ctx context.Context, mod *model.Model, r worker.Range, batch int) (Compute, error) {
		asked = append(asked, batch)
		return CPU(ctx, mod, r, batch)
	}
	m.loaded, m.loading = -1, -1
	loads := make(chan loaded, 1)
	for _, batch := range []uint32{48, 0} {
		m.plan = &tabshardv1.Plan{Stages: stages, PrefillBatch: batch}
		m.ensureLoaded(context.Background(), 1, loads)
		l := <-loads
		if l.err != nil {
			t.Fatal(l.err)
		}
		if l.batch != int(batch) || asked[len(asked)-1] != int(batch) {
			t.Fatalf("plan batch %d: the Loader got %v, the load carries %d", batch, asked, l.batch)
		}
		m.loading = -1
	}
}
