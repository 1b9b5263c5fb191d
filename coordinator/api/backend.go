package api

import (
	"context"
	"io"
	"time"

	"github.com/tabshard/tabshard/model/chattemplate"
	"github.com/tabshard/tabshard/model/tokenizer"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Backend is what the HTTP server needs from the coordinator daemon. Every
// method must be safe for concurrent use. Errors wrap the sentinels of this
// package (ErrUnknownModel, ErrUnknownSession, ErrBadRequest,
// ErrUnavailable) where one applies; any other error is a 500.
type Backend interface {
	// Models lists the served models; ModelInfo.ID is the name requests use.
	Models() []ModelInfo
	// Tokenizer returns the tokenizer of a served model (ErrUnknownModel
	// otherwise). WrapTokenizer adapts a *tokenizer.Tokenizer.
	Tokenizer(model string) (Tokenizer, error)
	// StartSession starts a generation and returns its id. It works on any
	// coordinator (followers forward to the leader). ctx bounds the start
	// only: the generation must go on when the HTTP client goes away, so
	// that the client can resume it.
	StartSession(ctx context.Context, req SessionRequest) (sessionID string, err error)
	// Session describes a session, for clients that resume one
	// (ErrUnknownSession otherwise).
	Session(ctx context.Context, sessionID string) (SessionInfo, error)
	// Follow streams a session's committed tokens from index from (0 is
	// the first generated token), in order and without gaps, then one end
	// event, then closes the channel. It also closes the channel, without
	// an end event, when ctx is done or the stream breaks. Unknown ids give
	// ErrUnknownSession.
	Follow(ctx context.Context, sessionID string, from int) (<-chan TokenEvent, error)
	// State is the cluster state this coordinator has applied, for
	// /api/state; nil before it has any (503).
	State() *tabshardv1.ClusterState
	// Health is nil when this coordinator can serve: it knows a leader and
	// its NATS connection is up.
	Health() error
	// ModelFile opens a served model's GGUF file for /model/<name>
	// (ErrUnknownModel otherwise). Each call must return a reader of its
	// own (io.NewSectionReader over a shared *os.File will do); the server
	// closes it afterwards when it is an io.Closer.
	ModelFile(name string) (f io.ReadSeeker, modTime time.Time, err error)
}

// ModelInfo describes a served model, as /v1/models lists it.
type ModelInfo struct {
	ID            string // the name requests use
	ContextLength int    // the most positions, prompt and generated tokens together
	Vocab         int    // token ids are 0 to Vocab-1 (0: not checked)
	Created       int64  // Unix seconds
	OwnedBy       string // "tabshard" when empty
}

// SessionRequest is a generation to start.
type SessionRequest struct {
	Model string
	// Prompt is the prompt's token ids as Tokenizer.Encode returns them
	// (with BOS when the model's tokenizer adds one); never empty.
	Prompt []int
	// MaxTokens bounds the generated tokens, >= 1; len(Prompt)+MaxTokens
	// never exceeds the model's ContextLength.
	MaxTokens int
	// Temperature is >= 0 (0: greedy); TopP is in [0, 1].
	Temperature, TopP float32
	Seed              uint64
	// IgnoreEOS keeps generating past the model's stop tokens.
	IgnoreEOS bool
	// Stop ends generation once the text contains one of these (at most
	// four, none empty); the answer never shows them.
	Stop []string
	// Penalties as llama.cpp's sampler applies them over the last 64
	// tokens: presence and frequency in [-2, 2], repeat > 0 (1: off).
	PresencePenalty, FrequencyPenalty, RepeatPenalty float32
	// LogitBias is added to the logits of its token ids, each in
	// [-100, 100].
	LogitBias map[int]float32
	// Logprobs asks for each token's log-probability and the TopLogprobs
	// (0 to 20) most likely tokens'.
	Logprobs    bool
	TopLogprobs int
	// Owner proves who may read the session; the Backend keeps it with the
	// session, on every coordinator, and returns it in SessionInfo.
	Owner Owner
}

// Owner is what proves a session's ownership, as hashes that the
// coordinators replicate and from which no secret can be read back.
type Owner struct {
	// KeyHash is the SHA-256 of the API key that started the session; nil
	// when the API has no keys.
	KeyHash []byte
	// ResumeTokenHash is the SHA-256 of the resume token its creator got.
	ResumeTokenHash []byte
}

// SessionInfo describes a session that exists.
type SessionInfo struct {
	ID      string
	Model   string
	Prompt  []int // as in SessionRequest
	Created int64 // Unix seconds
	// Stop and Logprobs are the request's, for answering a resumed
	// stream as the first one was answered.
	Stop     []string
	Logprobs bool
	Owner    Owner // as in SessionRequest
}

// TokenEvent is one element of a Follow stream: a committed token, or the
// end of the session.
type TokenEvent struct {
	// Index counts generated tokens from 0; the end event's Index is the
	// number of tokens generated (one past the last token's).
	Index int
	// Token is the token id; meaningless in the end event.
	Token int
	// Logprobs is the token's, when the session asked for them.
	Logprobs *TokenLogprobs
	// FinishReason is set only in the end event: "stop" (end of text),
	// "length" (MaxTokens or the context reached) or an error's text.
	FinishReason string
	// Stalled, in the last event of a stream that stops early, says why
	// the session has made no progress for a while and what would let it
	// go on ("stage 2 has no worker: open one more tab"). The session is
	// not over: it continues when the cause is gone, and the client
	// resumes it.
	Stalled string
}

// TokenLogprobs are a token's log-probability and the most likely
// tokens', most likely first.
type TokenLogprobs struct {
	Logprob float32
	Top     []TokenLogprob
}

// TokenLogprob is one token id's log-probability.
type TokenLogprob struct {
	Token   int
	Logprob float32
}

// End reports whether e is the end event.
func (e TokenEvent) End() bool { return e.FinishReason != "" }

// Tokenizer is a model's tokenizer as the server uses it.
type Tokenizer interface {
	// Encode returns the token ids of text, with BOS when the model adds it.
	Encode(text string) []int
	// EncodeChat renders messages with the model's chat template (its
	// add_generation_prompt set: the prompt ends where the assistant's
	// answer starts) at time now, and returns the prompt's token ids, the
	// special tokens the template writes parsed as such. A conversation
	// the template refuses is an error wrapping
	// chattemplate.ErrConversation.
	EncodeChat(messages []chattemplate.Message, now time.Time) ([]int, error)
	// NewStreamDecoder returns a decoder at the start of a text.
	NewStreamDecoder() StreamDecoder
	// TokenBytes returns the bytes token id stands for ("" for control
	// tokens), as logprobs name tokens.
	TokenBytes(id int) []byte
}

// StreamDecoder turns tokens into text one at a time, holding back the
// bytes of an incomplete UTF-8 character until the tokens completing it
// arrive (see tokenizer.StreamDecoder).
type StreamDecoder interface {
	// Push adds a token and returns the text that is now complete.
	Push(tok int) string
	// Flush returns what is held back, at the end of the text.
	Flush() string
}

// WrapTokenizer adapts the model package's tokenizer and the model's chat
// template to Tokenizer; a nil chat is chattemplate.Fallback().
func WrapTokenizer(t *tokenizer.Tokenizer, chat *chattemplate.Template) Tokenizer {
	if chat == nil {
		chat = chattemplate.Fallback()
	}
	return wrapped{t, chat}
}

type wrapped struct {
	t    *tokenizer.Tokenizer
	chat *chattemplate.Template
}

func (w wrapped) Encode(text string) []int { return w.t.Encode(text) }
func (w wrapped) TokenBytes(id int) []byte { return w.t.Piece(-1, id) }

func (w wrapped) EncodeChat(messages []chattemplate.Message, now time.Time) ([]int, error) {
	prompt, err := w.chat.Render(messages, true, now)
	if err != nil {
		return nil, err
	}
	return w.t.EncodeSpecial(prompt), nil
}

func (w wrapped) NewStreamDecoder() StreamDecoder { return w.t.NewStreamDecoder() }

// JoinInfo tells a worker that knows only the coordinator's HTTP address
// where the rest of the cluster is (GET /api/join).
type JoinInfo struct {
	NATSURL   string `json:"nats_url"`    // NATS over TCP, for native workers
	NATSWSURL string `json:"nats_ws_url"` // NATS over WebSocket, for tabs
	// NATSURLs and NATSWSURLs are every NATS server of the cluster a
	// client may fail over to, the one above first.
	NATSURLs   []string `json:"nats_urls,omitempty"`
	NATSWSURLs []string `json:"nats_ws_urls,omitempty"`
	Cluster    string   `json:"cluster"`   // the subject prefix's cluster name
	ModelURL   string   `json:"model_url"` // where to read the model's bytes
	// ModelGrantURL, when set, is where a worker gets the signed grant the
	// model server at ModelURL wants (package modelauth).
	ModelGrantURL string `json:"model_grant_url,omitempty"`
}
