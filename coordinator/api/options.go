package api

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Options' zero values.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxTokens    = 128
	DefaultKeepAlive    = 15 * time.Second
)

// Options configure the server. The zero value is usable.
type Options struct {
	// Metrics is where /metrics reads from and where the server counts its
	// requests; nil makes a fresh NewMetrics (the daemon then cannot
	// update it, so pass the one it updates).
	Metrics *Metrics
	// JoinInfo answers GET /api/join; nil answers 404. It gets the request
	// so that it can name addresses the worker can reach; URLs it returns
	// with an unspecified host (empty, 0.0.0.0, ::) get the host the
	// request reached, and an empty ModelURL becomes this server's
	// /model/<first model>.
	JoinInfo func(r *http.Request) JoinInfo
	// Admission answers POST /api/join, /api/join/renew and
	// /api/coordinators; nil answers 404.
	Admission Admission
	// Logger receives the access log (Debug) and handler errors; nil
	// discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (413 past it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DefaultMaxTokens is max_tokens when a request leaves it out, cut to
	// what the context leaves after the prompt; 0 means DefaultMaxTokens.
	DefaultMaxTokens int
	// KeepAlive is how often an idle event stream gets an SSE comment, so
	// that proxies keep it open; 0 means DefaultKeepAlive, < 0 never.
	KeepAlive time.Duration
	// WebSocketOrigins are the Origin host patterns (path.Match) allowed
	// to open a WebSocket besides the server's own host.
	WebSocketOrigins []string
	// Now is the clock for "created" fields; nil means time.Now.
	Now func() time.Time
	// Pages, when set, serves the web pages: /, /worker, /launcher, /chat,
	// /dashboard and /static/ (package web); nil leaves those routes 404.
	Pages http.Handler
	// ModelGrant, when set, answers GET /api/model-grant: signed grants
	// for a model server on another origin (modelauth.Issuer); nil: 404.
	ModelGrant http.Handler
	// ModelServerURL, when set, is where the model's bytes are served
	// (with grants): /model/{name} here is then off (403 naming it).
	ModelServerURL string

	// APIKeys, when it holds keys, are the keys /v1/ requests must present
	// ("Authorization: Bearer KEY"); nil or empty leaves the API open.
	// Sessions are private either way (see the package documentation).
	APIKeys *KeySet
	// AdminKeys may read every session and see session content (prompts,
	// generated tokens, sampler state) in /api/state; nil: nobody may.
	AdminKeys *KeySet
	// Hosts are the names, besides localhost and IP addresses, that the
	// Host header may carry (the names clients and workers reach this
	// server by); any other is refused, against DNS rebinding.
	Hosts []string
}

// withDefaults returns o with its zero values replaced by the defaults.
func (o Options) withDefaults() Options {
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.DefaultMaxTokens <= 0 {
		o.DefaultMaxTokens = DefaultMaxTokens
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
