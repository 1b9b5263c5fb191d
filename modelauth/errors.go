package modelauth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Errors of a refused request; their codes go on the wire.
var (
	ErrNoGrant    = errors.New("no grant: model files are read with a grant from the coordinator (?grant=…)")
	ErrBadGrant   = errors.New("invalid grant")
	ErrExpired    = errors.New("grant expired")
	ErrOutside    = errors.New("outside the granted byte ranges")
	ErrOrigin     = errors.New("origin not allowed")
	ErrWrongFile  = errors.New("grant is for another file")
	ErrNotAllowed = errors.New("request not allowed by the grant")
	// ErrRefused is any refusal a client read back (see Refusal).
	ErrRefused = errors.New("refused")
)

// codes are the stable wire codes of the errors above.
var codes = []struct {
	err  error
	code string
}{
	{ErrNoGrant, "grant_missing"}, {ErrBadGrant, "grant_invalid"}, {ErrExpired, "grant_expired"},
	{ErrOutside, "range_outside_grant"}, {ErrOrigin, "origin_not_allowed"}, {ErrWrongFile, "grant_wrong_file"},
	{ErrNotAllowed, "request_not_allowed"},
}

// code is the stable error code of err, for the JSON error body.
func code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "forbidden"
}

// Headers that carry a refusal's code and message beside the JSON body:
// the answer to a HEAD request has no body.
const (
	HeaderErrorCode = "Tabshard-Error-Code"
	HeaderError     = "Tabshard-Error"
)

// Refusal reads why a FileServer or an Issuer refused a request: resp's
// error code and message (from its headers, else its JSON body, which it
// reads), as an error wrapping ErrRefused and the sentinel of the code
// (ErrExpired, ErrOutside, ...). It returns nil for a 2xx answer.
func Refusal(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	r := &refusal{status: resp.Status, code: resp.Header.Get(HeaderErrorCode), msg: resp.Header.Get(HeaderError)}
	if r.code == "" {
		var body struct {
			Error struct{ Message, Code string }
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &body) == nil {
			r.code, r.msg = body.Error.Code, body.Error.Message
		} else {
			r.msg = strings.TrimSpace(string(b))
		}
	}
	for _, c := range codes {
		if c.code == r.code {
			r.sentinel = c.err
		}
	}
	return r
}

// refusal is a refused request as a client reads it.
type refusal struct {
	status, code, msg string
	sentinel          error // nil for an unknown code
}

func (r *refusal) Error() string {
	s := ErrRefused.Error() + " (" + r.status
	if r.code != "" {
		s += ", " + r.code
	}
	s += ")"
	if r.msg != "" {
		s += ": " + r.msg
	}
	return s
}

func (r *refusal) Unwrap() []error {
	if r.sentinel == nil {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, r.sentinel}
}
