package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// handleCompletions is POST /v1/completions.
func (s *server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	g, err := s.validate(req.samplingFields, textPrompt(req.Prompt), "prompt")
	if err == nil {
		err = readCompletionLogprobs(req, &g)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.generate(w, r, g)
}

// handleChatCompletions is POST /v1/chat/completions.
func (s *server) handleChatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	msgs, err := chatMessages(req.Messages)
	if err != nil {
		writeError(w, err)
		return
	}
	g, err := s.validate(req.samplingFields, s.chatPrompt(msgs), "messages")
	if err == nil {
		err = readChatLogprobs(req, &g)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	g.Chat = true
	s.generate(w, r, g)
}

// generate starts the session and answers with its stream or its whole text.
// The creator gets the session's resume token in a header and in the
// first chunk of its stream: only a client that presents it (or the API
// key that started the session) may resume it.
func (s *server) generate(w http.ResponseWriter, r *http.Request, g generation) {
	token, owner := s.newOwner(r)
	g.Request.Owner = owner
	id, err := s.b.StartSession(r.Context(), g.Request)
	if err != nil {
		s.fail(w, r, "start session", err)
		return
	}
	v := sessionView{ID: id, Model: g.Request.Model, Prompt: g.Request.Prompt,
		Created: s.opts.Now().Unix(), Chat: g.Chat, tok: g.tok, resumeToken: token,
		Stop: g.Request.Stop, Logprobs: g.Request.Logprobs, IncludeUsage: g.IncludeUsage}
	if g.Echo {
		v.Echo = g.echo
	}
	w.Header().Set(sessionHeader, id)
	w.Header().Set(resumeTokenHeader, token)
	if g.Stream {
		s.streamSSE(w, r, v, -1)
		return
	}
	s.respondWhole(w, r, v)
}

// respondWhole waits for the session's end and answers with all its text.
func (s *server) respondWhole(w http.ResponseWriter, r *http.Request, v sessionView) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := s.follow(ctx, v)
	if err != nil {
		s.fail(w, r, "follow", err)
		return
	}
	var pieces []piece
	err = deliver(ctx, v, events, follower{after: -1, emit: func(p piece) error {
		pieces = append(pieces, p)
		return nil
	}})
	var last piece
	if len(pieces) > 0 {
		last = pieces[len(pieces)-1]
	}
	var stalled *stalledError
	switch {
	case errors.Is(err, errInterrupted):
		err = fmt.Errorf("%w: session %s: %v; resume with GET /v1/sessions/%s/events and this answer's %s header", ErrUnavailable, v.ID, err, v.openAIID(), resumeTokenHeader)
	case errors.As(err, &stalled):
		err = stalled.apiError(v)
	case err == nil && last.failed():
		err = generationFailed(v, last)
	}
	if err != nil {
		s.fail(w, r, "follow", err)
		return
	}
	writeJSON(w, http.StatusOK, v.whole(pieces))
}

// handleSessionEvents is GET /v1/sessions/{id}/events: a session's event
// stream from the event after Last-Event-ID (header, or query
// last_event_id), or from the start without one.
func (s *server) handleSessionEvents(w http.ResponseWriter, r *http.Request) {
	after, err := lastEventID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := s.sessionView(r)
	if err != nil {
		s.fail(w, r, "session", err)
		return
	}
	s.streamSSE(w, r, v, after)
}

func lastEventID(r *http.Request) (int, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < -1 {
		return 0, badParam("Last-Event-ID", fmt.Sprintf("Last-Event-ID must be an event id (an integer >= 0), got %q", s))
	}
	return n, nil
}

// streamSSE answers with the session's pieces past after as Server-Sent
// Events, each with its index as id, then "data: [DONE]" once the session
// has ended. A stream that stops without [DONE] can be resumed.
func (s *server) streamSSE(w http.ResponseWriter, r *http.Request, v sessionView, after int) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := s.follow(ctx, v)
	if err != nil {
		s.fail(w, r, "follow", err)
		return
	}
	s.opts.Metrics.HTTPStreams.Inc()
	defer s.opts.Metrics.HTTPStreams.Dec()
	sse := startSSE(w, v.ID)
	err = deliver(ctx, v, events, follower{after: after, emit: func(p piece) error {
		if p.failed() {
			return sse.event(p.Index, generationFailed(v, p).body())
		}
		if err := sse.event(p.Index, v.chunk(p)); err != nil || !p.end() || !v.IncludeUsage {
			return err
		}
		return sse.event(p.Index+1, v.usageChunk(p.Index))
	}, ping: sse.comment, keepAlive: s.opts.KeepAlive})
	var stalled *stalledError
	switch {
	case err == nil:
		err = sse.done()
	case errors.As(err, &stalled):
		// The session waits (a stage has no worker): say why and how to
		// go on, and end this stream without [DONE]; the client resumes.
		err = sse.errorEvent(stalled.apiError(v).body())
	}
	if err != nil {
		s.logStreamEnd(ctx, r, v, err)
	}
}

// generationFailed is the error a session that ended in failure reports.
func generationFailed(v sessionView, p piece) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "generation_failed",
		Message: fmt.Sprintf("session %s: generation failed: %s", v.ID, p.FinishReason)}
}

// fail answers with err unless the client is gone, and logs server errors.
func (s *server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		s.opts.Logger.DebugContext(r.Context(), "client went away", "path", r.URL.Path, "during", what, "err", err)
		return
	}
	if ae := asAPIError(err); ae.Status >= 500 {
		s.opts.Logger.WarnContext(r.Context(), "request failed", "path", r.URL.Path, "during", what, "err", err)
	}
	writeError(w, err)
}

// logStreamEnd logs why a stream stopped before its end; ctx is the
// stream's, done when the client went away.
func (s *server) logStreamEnd(ctx context.Context, r *http.Request, v sessionView, err error) {
	level := s.opts.Logger.WarnContext
	if ctx.Err() != nil || errors.Is(err, errInterrupted) {
		level = s.opts.Logger.DebugContext
	}
	level(r.Context(), "stream stopped", "session", v.ID, "path", r.URL.Path, "err", err)
}
