// Package api is the coordinator's HTTP server: an OpenAI-compatible
// completion API with resumable token streams, the cluster state and
// metrics for dashboards, health, and the model file server workers load
// their shards from. The daemon implements Backend; New returns the
// handler.
//
// # Endpoints
//
//   - POST /v1/completions, POST /v1/chat/completions: OpenAI request and
//     response shapes; with "stream": true, Server-Sent Events.
//   - GET /v1/sessions/{id}/events: a session's event stream, resumed after
//     the Last-Event-ID header (or ?last_event_id=N), from the start
//     without one.
//   - GET /v1/sessions/{id}/ws: the session's tokens over a WebSocket, from
//     ?from=N (default 0).
//   - GET /v1/models: the served models, OpenAI's list shape.
//   - GET /api/state: the applied ClusterState as protojson (proto field
//     names, unpopulated fields included, 64-bit integers as strings).
//   - GET /api/join: JoinInfo, for a worker that knows only this address.
//   - POST /api/join, /api/join/renew, /api/coordinators: admission with
//     the join token as a bearer token (Admission); protojson bodies.
//   - GET /metrics: Prometheus text format, from Options.Metrics.
//   - GET /healthz: 200 "ok", or 503 with Backend.Health's error.
//   - GET, HEAD /model/{name}: the GGUF file, with HTTP Range support.
//   - GET /, /worker, /launcher, /chat, /dashboard, /static/…: the web
//     pages, when Options.Pages is set.
//   - GET /api/model-grant?worker=ID: a signed grant for a model server on
//     another origin, when Options.ModelGrant is set.
//
// Unknown routes answer 404, wrong methods 405 with Allow; every error is
// OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.
//
// # Access
//
// Every request's Host must be an IP address, localhost or a name of
// Options.Hosts (421 host_not_allowed otherwise: DNS rebinding), and every
// POST must be application/json (415 unsupported_media_type: cross-site
// form posts). With Options.APIKeys, /v1/completions, /v1/chat/completions
// and /v1/models need "Authorization: Bearer KEY" (401 invalid_api_key).
// A session is read (events, WebSocket) only with its resume token
// (header X-Tabshard-Resume-Token or ?resume_token=), the API key that
// started it, or a key of Options.AdminKeys (403 session_forbidden); the
// Backend keeps their SHA-256 (Owner) with the session. /api/state shows
// prompts, generated tokens and sampler state to admin keys only. With
// Options.ModelServerURL, /model/{name} is off (403).
//
// # Completion requests
//
// The prompt is a string, an array of one string, or an array of token ids
// (each within the model's vocabulary, else 400). Chat messages (content
// a string or text parts) become a prompt of "role: content" lines
// followed by "assistant:", since the served models have no chat template.
// Defaults: max_tokens (or max_completion_tokens) Options.DefaultMaxTokens
// (128) cut to the context left after the prompt; temperature 1; top_p 1;
// seed random. n must be 1. stop, echo, logprobs, penalties and other
// OpenAI fields are accepted and ignored: generation ends at the model's
// end-of-text token or at max_tokens; with "ignore_eos": true (an
// extension, as in vLLM) only at max_tokens. A request that names max_tokens past
// the context is refused (400, param max_tokens).
//
// The completion text is the generated tokens decoded as the continuation
// of the prompt — what llama2.c prints after the prompt: the decoder reads
// the prompt's tokens first and the text starts after them, so a token's
// leading space is kept and only a token right after BOS loses it.
// usage.completion_tokens counts the committed tokens (the end-of-text
// token included when the daemon commits it).
//
// # Streams and resuming
//
// Every answer that starts a session carries the headers X-Tabshard-Session
// and X-Tabshard-Resume-Token; the first chunk of a stream carries the
// token too, as "resume_token" (an extension).
// A streamed answer sends one event per committed token, "id: <index>"
// (0 for the first generated token) and a chunk whose text is what that
// token completes (empty while a UTF-8 character is incomplete), then the
// final chunk with finish_reason (id = the number of tokens), then
// "data: [DONE]". A session that fails sends an OpenAI error object as its
// final event instead. A stream that stops without [DONE] (the client or
// this coordinator went away) is resumed with GET
// /v1/sessions/{id}/events, Last-Event-ID and the resume token: the client
// gets exactly the events after that id, from any coordinator. {id} is the session id or the
// chunks' "id" ("cmpl-…" or "chatcmpl-…"), whose prefix picks the chunk
// format. The WebSocket sends {"index", "token", "text", "finish_reason"}
// messages likewise and resumes with ?from=<next index>.
package api
