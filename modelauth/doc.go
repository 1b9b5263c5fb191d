// Package modelauth guards model files that another origin serves to
// browser tabs: an allow-list of page origins (CORS), and short-lived
// HMAC-signed grants, each allowing Range reads of exactly the byte ranges
// one stage needs (the GGUF header and the stage's tensors). Any other
// request is refused with 403 and a message saying why.
//
// The coordinator signs grants (Issuer, served at /api/model-grant to
// workers that present the join token); a FileServer that shares the key
// checks them (`tabshard serve-model` runs one). Workers, tabs and native
// ones, get and renew grants on their own (ClientTransport), and read a
// refusal back as an error with its code's sentinel (Refusal).
package modelauth
