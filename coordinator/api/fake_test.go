package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/model/tokenizer"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

const modelName = "stories260K"

// stories is the bundled model's tokenizer, loaded once.
var stories = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
	m, err := bundled.Open()
	if err != nil {
		return nil, err
	}
	return m.Tokenizer, nil
})

func storiesTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := stories()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fakeBackend is an in-memory Backend: each session generates the tokens
// of script, all at once, or (manual) as the test commits them.
type fakeBackend struct {
	tok     api.Tokenizer
	models  []api.ModelInfo
	file    []byte
	modTime time.Time
	state   *tabshardv1.ClusterState
	health  error

	mu       sync.Mutex
	sessions map[string]*fakeSession
	script   []int
	finish   string
	manual   bool
	startErr error
	requests []api.SessionRequest

	follows atomic.Int64 // Follow goroutines running
}

type fakeSession struct {
	info      api.SessionInfo
	tokens    []int // immutable
	finish    string
	committed int
	ended     bool
	changed   chan struct{} // closed and replaced on every change
	broken    chan struct{} // closed and replaced to break the followers
}

func newFakeBackend(t testing.TB) *fakeBackend {
	return &fakeBackend{
		tok:      api.WrapTokenizer(storiesTokenizer(t), nil),
		models:   []api.ModelInfo{{ID: modelName, ContextLength: 512, Vocab: 512, Created: 1700000000}},
		file:     bundled.Bytes(),
		modTime:  time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		sessions: map[string]*fakeSession{},
		finish:   "stop",
	}
}

func (f *fakeBackend) Models() []api.ModelInfo { return f.models }

func (f *fakeBackend) Tokenizer(model string) (api.Tokenizer, error) {
	if model != modelName {
		return nil, fmt.Errorf("%w: %q", api.ErrUnknownModel, model)
	}
	return f.tok, nil
}

func (f *fakeBackend) StartSession(ctx context.Context, req api.SessionRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return "", f.startErr
	}
	f.requests = append(f.requests, req)
	id := fmt.Sprintf("s%d", len(f.sessions)+1)
	s := &fakeSession{
		info:    api.SessionInfo{ID: id, Model: req.Model, Prompt: req.Prompt, Created: 1700000001, Owner: req.Owner, Stop: req.Stop, Logprobs: req.Logprobs},
		tokens:  f.script,
		finish:  f.finish,
		changed: make(chan struct{}),
		broken:  make(chan struct{}),
	}
	f.sessions[id] = s
	if !f.manual {
		s.committed, s.ended = len(s.tokens), true
	}
	return id, nil
}

func (f *fakeBackend) Session(ctx context.Context, id string) (api.SessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return api.SessionInfo{}, fmt.Errorf("%w: %q", api.ErrUnknownSession, id)
	}
	return s.info, nil
}

// commit commits n more tokens of session id; the session ends with its
// last token.
func (f *fakeBackend) commit(id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[id]
	s.committed = min(s.committed+n, len(s.tokens))
	s.ended = s.committed == len(s.tokens)
	close(s.changed)
	s.changed = make(chan struct{})
}

// breakFollowers closes the streams of session id's followers without an
// end event, as a coordinator that shuts down does.
func (f *fakeBackend) breakFollowers(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[id]
	close(s.broken)
	s.broken = make(chan struct{})
}

func (f *fakeBackend) view(s *fakeSession) (committed int, ended bool, changed, broken chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return s.committed, s.ended, s.changed, s.broken
}

func (f *fakeBackend) Follow(ctx context.Context, id string, from int) (<-chan api.TokenEvent, error) {
	f.mu.Lock()
	s, ok := f.sessions[id]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", api.ErrUnknownSession, id)
	}
	ch := make(chan api.TokenEvent)
	f.follows.Add(1)
	go func() {
		defer f.follows.Add(-1)
		defer close(ch)
		f.stream(ctx, s, from, ch)
	}()
	return ch, nil
}

// stream sends session s's events from index from as they are committed.
func (f *fakeBackend) stream(ctx context.Context, s *fakeSession, from int, ch chan<- api.TokenEvent) {
	send := func(ev api.TokenEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	_, _, _, broken := f.view(s)
	for i := from; ; {
		committed, ended, changed, _ := f.view(s)
		for ; i < committed; i++ {
			ev := api.TokenEvent{Index: i, Token: s.tokens[i]}
			if s.info.Logprobs {
				ev.Logprobs = fakeLogprobs(s.tokens[i])
			}
			if !send(ev) {
				return
			}
		}
		if ended {
			send(api.TokenEvent{Index: committed, FinishReason: s.finish})
			return
		}
		select {
		case <-changed:
		case <-broken:
			return
		case <-ctx.Done():
			return
		}
	}
}

// fakeLogprobs are made-up log-probabilities of token id: its own, and
// two alternatives.
func fakeLogprobs(id int) *api.TokenLogprobs {
	return &api.TokenLogprobs{Logprob: -float32(id) / 1000, Top: []api.TokenLogprob{{Token: id, Logprob: -float32(id) / 1000}, {Token: 300, Logprob: -3.5}}}
}

func (f *fakeBackend) State() *tabshardv1.ClusterState { return f.state }

func (f *fakeBackend) Health() error { return f.health }

func (f *fakeBackend) ModelFile(name string) (io.ReadSeeker, time.Time, error) {
	if name != modelName {
		return nil, time.Time{}, fmt.Errorf("%w: %q", api.ErrUnknownModel, name)
	}
	return bytes.NewReader(f.file), f.modTime, nil
}

func (f *fakeBackend) lastRequest(t testing.TB) api.SessionRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no session was started")
	}
	return f.requests[len(f.requests)-1]
}

// waitFollows waits until no Follow stream is open: every handler that
// followed a session has let it go.
func (f *fakeBackend) waitFollows(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for f.follows.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d Follow streams still open", f.follows.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
