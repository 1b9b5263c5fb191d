package modelauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Range is the bytes [Start, End) of a file.
type Range struct{ Start, End int64 }

// Grant allows Range reads of Ranges of one file until Expires.
type Grant struct {
	File    string    // the file's name, as the server's path names it
	Stage   int       // the stage the ranges are for (informational)
	Ranges  []Range   // sorted, disjoint, not adjacent
	Expires time.Time // to the millisecond
}

// wireGrant is a Grant in a token: short keys, ranges as pairs.
type wireGrant struct {
	File    string     `json:"f"`
	Stage   int        `json:"s"`
	Ranges  [][2]int64 `json:"r"`
	Expires int64      `json:"e"` // Unix ms
}

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// Signer signs and verifies grants with an HMAC-SHA256 key.
type Signer struct{ key []byte }

// NewSigner makes a Signer; the key must have at least MinKeyBytes bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("modelauth: a signing key needs at least %d bytes, got %d", MinKeyBytes, len(key))
	}
	return &Signer{key: bytes.Clone(key)}, nil
}

var b64 = base64.RawURLEncoding

// Sign returns the grant as a token: base64url(JSON) "." base64url(HMAC).
func (s *Signer) Sign(g Grant) string {
	w := wireGrant{File: g.File, Stage: g.Stage, Expires: g.Expires.UnixMilli()}
	for _, r := range Merge(g.Ranges) {
		w.Ranges = append(w.Ranges, [2]int64{r.Start, r.End})
	}
	payload, _ := json.Marshal(w)
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac(p))
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks a token's signature and expiry at now and returns its
// grant. Errors wrap ErrBadGrant or ErrExpired.
func (s *Signer) Verify(token string, now time.Time) (Grant, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Grant{}, fmt.Errorf("%w: not a grant token", ErrBadGrant)
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return Grant{}, fmt.Errorf("%w: bad signature", ErrBadGrant)
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadGrant, err)
	}
	var w wireGrant
	if err := json.Unmarshal(payload, &w); err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadGrant, err)
	}
	g := Grant{File: w.File, Stage: w.Stage, Expires: time.UnixMilli(w.Expires)}
	for _, r := range w.Ranges {
		g.Ranges = append(g.Ranges, Range{r[0], r[1]})
	}
	if !now.Before(g.Expires) {
		return g, fmt.Errorf("%w at %s (%s ago): ask the coordinator for a new one", ErrExpired, g.Expires.UTC().Format(time.RFC3339), now.Sub(g.Expires).Round(time.Millisecond))
	}
	return g, nil
}

// Peek reads a token's grant without checking it: a client learns its
// ranges and expiry.
func Peek(token string) (Grant, error) {
	p, _, _ := strings.Cut(token, ".")
	payload, err := b64.DecodeString(p)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadGrant, err)
	}
	var w wireGrant
	if err := json.Unmarshal(payload, &w); err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrBadGrant, err)
	}
	g := Grant{File: w.File, Stage: w.Stage, Expires: time.UnixMilli(w.Expires)}
	for _, r := range w.Ranges {
		g.Ranges = append(g.Ranges, Range{r[0], r[1]})
	}
	return g, nil
}

// Merge sorts ranges and joins those that overlap or touch; empty ones go.
func Merge(rs []Range) []Range {
	rs = slices.DeleteFunc(slices.Clone(rs), func(r Range) bool { return r.End <= r.Start })
	slices.SortFunc(rs, func(a, b Range) int { return int(a.Start - b.Start) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Covers reports whether the grant covers [start, end).
func (g Grant) Covers(start, end int64) bool {
	for _, r := range g.Ranges {
		if start >= r.Start && end <= r.End {
			return true
		}
	}
	return false
}

// Check says whether the grant allows a request of method with the Range
// header rangeHeader on a file of size bytes. HEAD is allowed (it reads
// nothing); GET needs a Range header whose every range the grant covers.
func (g Grant) Check(method, rangeHeader string, size int64) error {
	switch method {
	case "HEAD":
		return nil
	case "GET":
	default:
		return fmt.Errorf("%w: method %s", ErrNotAllowed, method)
	}
	if rangeHeader == "" {
		return fmt.Errorf("%w: a whole-file GET; a grant allows Range requests of stage %d's bytes only", ErrNotAllowed, g.Stage)
	}
	spec, ok := strings.CutPrefix(rangeHeader, "bytes=")
	if !ok {
		return fmt.Errorf("%w: Range %q is not in bytes", ErrNotAllowed, rangeHeader)
	}
	var total int64
	for _, part := range strings.Split(spec, ",") {
		start, end, err := parseRange(strings.TrimSpace(part), size)
		if err != nil {
			return fmt.Errorf("%w: Range %q: %v", ErrNotAllowed, rangeHeader, err)
		}
		if !g.Covers(start, end) {
			return fmt.Errorf("%w: bytes %d-%d are not part of stage %d", ErrOutside, start, end-1, g.Stage)
		}
		if start < size {
			total += end - start
		}
	}
	// An HTTP server answers ranges that add up to more than the file with
	// the whole file (net/http's ServeContent does): refuse them here.
	if total > size {
		return fmt.Errorf("%w: Range %q asks for %d bytes in all, more than the file's %d; ask for each granted range once",
			ErrNotAllowed, rangeHeader, total, size)
	}
	return nil
}

// CheckIfRange says whether an If-Range header lets a Range request be
// answered with the ranges: a validator that does not match the file's
// modification time (files are served without an ETag) would turn the
// answer into the whole file, so it is refused.
func CheckIfRange(ifRange string, modTime time.Time) error {
	if ifRange == "" {
		return nil
	}
	t, err := http.ParseTime(ifRange)
	if err != nil || modTime.IsZero() || t.Unix() != modTime.Unix() {
		return fmt.Errorf("%w: If-Range %q does not match the file (Last-Modified %s); send the Range without If-Range",
			ErrNotAllowed, ifRange, modTime.UTC().Format(http.TimeFormat))
	}
	return nil
}

// parseRange reads "a-b", "a-" or "-n" of a file of size bytes as [start, end).
func parseRange(s string, size int64) (int64, int64, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range", s)
	}
	if a == "" { // the last n bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, fmt.Errorf("bad suffix range %q", s)
		}
		return max(size-n, 0), size, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, fmt.Errorf("bad range start %q", s)
	}
	end := size
	if b != "" {
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last < start {
			return 0, 0, fmt.Errorf("bad range end %q", s)
		}
		end = min(last+1, size)
	}
	return start, end, nil
}
