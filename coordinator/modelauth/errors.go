package modelauth

import "errors"

// Errors of a refused request; their codes go on the wire.
var (
	ErrNoGrant    = errors.New("no grant: model files are read with a grant from the coordinator (?grant=…)")
	ErrBadGrant   = errors.New("invalid grant")
	ErrExpired    = errors.New("grant expired")
	ErrOutside    = errors.New("outside the granted byte ranges")
	ErrOrigin     = errors.New("origin not allowed")
	ErrWrongFile  = errors.New("grant is for another file")
	ErrNotAllowed = errors.New("request not allowed by the grant")
)

// code is the stable error code of err, for the JSON error body.
func code(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{ErrNoGrant, "grant_missing"}, {ErrBadGrant, "grant_invalid"}, {ErrExpired, "grant_expired"},
		{ErrOutside, "range_outside_grant"}, {ErrOrigin, "origin_not_allowed"}, {ErrWrongFile, "grant_wrong_file"},
		{ErrNotAllowed, "request_not_allowed"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "forbidden"
}
