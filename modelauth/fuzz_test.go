package modelauth

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzGrantCheck: whatever Range header a worker sends, a request the grant
// check lets through is answered by net/http's ServeContent (what the file
// server uses) with partial content of granted bytes only, never the whole
// file.
func FuzzGrantCheck(f *testing.F) {
	for _, r := range []string{"bytes=100-199", "bytes=100-199,100-199", "bytes=0-", "bytes=-50", "bytes=150-160,100-110",
		"bytes=100-199,300-349,100-199,300-349", "bytes=100-99999", "bytes= 100-120 , 130-140", "bytes=300-"} {
		f.Add(r)
	}
	const size = 400
	g := Grant{File: "m.gguf", Stage: 1, Ranges: []Range{{100, 200}, {300, 350}}}
	content := bytes.Repeat([]byte{'x'}, size)
	f.Fuzz(func(t *testing.T, header string) {
		if g.Check(http.MethodGet, header, size) != nil {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/m.gguf", nil)
		req.Header.Set("Range", header)
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "m.gguf", time.Unix(0, 0), bytes.NewReader(content))
		switch rec.Code {
		case http.StatusRequestedRangeNotSatisfiable:
			return
		case http.StatusPartialContent:
		default:
			t.Fatalf("Range %q passed the grant check and was answered %d (%d bytes)", header, rec.Code, rec.Body.Len())
		}
		if cr := rec.Header().Get("Content-Range"); cr != "" { // one range: it must be granted
			start, end := contentRange(t, cr)
			if !g.Covers(start, end+1) {
				t.Fatalf("Range %q passed the grant check and was answered with bytes %d-%d", header, start, end)
			}
		}
	})
}

// contentRange parses "bytes START-END/SIZE".
func contentRange(t *testing.T, cr string) (int64, int64) {
	spec, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "/")
	a, b, _ := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("Content-Range %q", cr)
	}
	return start, end
}
