package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// sessionView is what answering for one session needs.
type sessionView struct {
	ID      string
	Model   string
	Prompt  []int
	Created int64 // Unix seconds
	Chat    bool  // answer with chat.completion objects
	tok     Tokenizer
	// Stop strings end the text (see stopFilter).
	Stop []string
	// Logprobs: answer with each token's log-probabilities.
	Logprobs bool
	// Echo is the prompt's text, put before the generated text.
	Echo string
	// IncludeUsage ends a stream with a chunk of the usage.
	IncludeUsage bool
	// resumeToken goes in the first chunk of the creator's stream, and
	// only there.
	resumeToken string
}

// openAIID is the "id" of the session's OpenAI objects: "cmpl-<session>" or
// "chatcmpl-<session>". The session endpoints take it as well as the bare
// session id, and answer in the format its prefix names.
func (v sessionView) openAIID() string {
	if v.Chat {
		return chatIDPrefix + v.ID
	}
	return textIDPrefix + v.ID
}

const (
	textIDPrefix = "cmpl-"
	chatIDPrefix = "chatcmpl-"
)

// parseSessionID splits an id from a URL into the session id and whether
// it names the chat format.
func parseSessionID(s string) (id string, chat bool) {
	if id, ok := strings.CutPrefix(s, chatIDPrefix); ok {
		return id, true
	}
	return strings.TrimPrefix(s, textIDPrefix), false
}

// piece is one event of a session's text stream: a token and the text it
// completes, or the end.
type piece struct {
	Index        int
	Token        int    // -1 in the end piece
	Text         string // the text that is complete now
	FinishReason string // set in the end piece only
	// Offset is where Text starts in the generated text, in bytes.
	Offset int
	// Logprobs are the token's, when the session asked for them.
	Logprobs *TokenLogprobs
}

func (p piece) end() bool { return p.FinishReason != "" }

// failed reports whether an end piece ends the session with an error
// rather than as OpenAI's "stop" or "length".
func (p piece) failed() bool {
	return p.end() && p.FinishReason != "stop" && p.FinishReason != "length"
}

// errInterrupted is a Follow stream that closed before the session's end
// (the coordinator is shutting down, or lost its state): the client should
// resume, here or at another coordinator.
var errInterrupted = errors.New("the session's token stream ended before the session did")

// stalledError is a stream stopped because its session waits for
// something (a stage with no worker); retrying later resumes it.
type stalledError struct{ reason string }

func (e *stalledError) Error() string { return "the session is stalled: " + e.reason }

// stallRetryAfter is the Retry-After a stalled session's answers carry.
const stallRetryAfter = 5 * time.Second

// apiError is what a client is told about a stalled session: 503, retryable.
func (e *stalledError) apiError(v sessionView) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "stage_unavailable", RetryAfter: stallRetryAfter,
		Message: fmt.Sprintf("session %s is waiting: %s; it goes on by itself once that is fixed: resume it with GET /v1/sessions/%s/events, Last-Event-ID and its resume token",
			v.ID, e.reason, v.openAIID())}
}

// follower is one client's view of a session's pieces.
type follower struct {
	// after skips the pieces up to and including this index (-1: none).
	after int
	// emit delivers a piece; an error stops the delivery.
	emit func(piece) error
	// ping is called when no piece came for keepAlive; nil for never.
	ping      func() error
	keepAlive time.Duration
}

// deliver decodes the events of a Follow stream opened from index 0 and
// hands f the pieces past f.after. Decoding always starts at the first
// token, after the prompt, so that a resumed stream's text is exactly the
// rest of an unbroken one's, held-back UTF-8 bytes included, and so that
// the first generated token decodes as a continuation of the prompt. It
// returns nil after the end piece, ctx's error when ctx is done,
// errInterrupted when events closes early, or f.emit's error.
func deliver(ctx context.Context, v sessionView, events <-chan TokenEvent, f follower) error {
	dec := v.tok.NewStreamDecoder()
	for _, t := range v.Prompt {
		dec.Push(t)
	}
	var tick <-chan time.Time
	if f.ping != nil && f.keepAlive > 0 {
		t := time.NewTicker(f.keepAlive)
		defer t.Stop()
		tick = t.C
	}
	stops := stopFilter{stops: v.Stop}
	offset := 0
	for next := 0; ; next++ {
		ev, err := receive(ctx, events, tick, f.ping)
		if err != nil {
			return err
		}
		if ev.Stalled != "" {
			return &stalledError{reason: ev.Stalled}
		}
		if ev.Index != next {
			return fmt.Errorf("session %s: event %d arrived when %d was due", v.ID, ev.Index, next)
		}
		for _, p := range stops.filter(decode(dec, ev)) {
			p.Offset, offset = offset, offset+len(p.Text)
			if p.Index > f.after {
				if err := f.emit(p); err != nil {
					return err
				}
			}
			if p.end() {
				return nil
			}
		}
	}
}

// receive waits for the next event, pinging on every tick meanwhile.
func receive(ctx context.Context, events <-chan TokenEvent, tick <-chan time.Time, ping func() error) (TokenEvent, error) {
	for {
		select {
		case ev, ok := <-events:
			if ok {
				return ev, nil
			}
			if err := ctx.Err(); err != nil {
				return ev, err
			}
			return ev, errInterrupted
		case <-ctx.Done():
			return TokenEvent{}, ctx.Err()
		case <-tick:
			if err := ping(); err != nil {
				return TokenEvent{}, err
			}
		}
	}
}

// decode turns an event into a piece: a token's newly complete text, or at
// the end whatever the decoder still holds.
func decode(dec StreamDecoder, ev TokenEvent) piece {
	if ev.End() {
		return piece{Index: ev.Index, Token: -1, Text: dec.Flush(), FinishReason: ev.FinishReason}
	}
	return piece{Index: ev.Index, Token: ev.Token, Text: dec.Push(ev.Token), Logprobs: ev.Logprobs}
}

// follow opens the session's events from index 0, bounded by ctx.
func (s *server) follow(ctx context.Context, v sessionView) (<-chan TokenEvent, error) {
	return s.b.Follow(ctx, v.ID, 0)
}

// sessionView looks up the session r's URL names, for a resuming client
// that must prove it may read it (see authorizeSession).
func (s *server) sessionView(r *http.Request) (sessionView, error) {
	id, chat := parseSessionID(r.PathValue("id"))
	info, err := s.b.Session(r.Context(), id)
	if err != nil {
		return sessionView{}, err
	}
	if err := s.authorizeSession(r, id, info.Owner); err != nil {
		return sessionView{}, err
	}
	tok, err := s.b.Tokenizer(info.Model)
	if err != nil {
		return sessionView{}, err
	}
	return sessionView{ID: id, Model: info.Model, Prompt: info.Prompt, Created: info.Created, Chat: chat, tok: tok,
		Stop: info.Stop, Logprobs: info.Logprobs}, nil
}
