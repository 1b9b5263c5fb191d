package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sseWriter writes Server-Sent Events, flushing each.
type sseWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

// startSSE answers 200 with an event stream. The stream may outlive any
// write deadline the server has, so it clears it.
func startSSE(w http.ResponseWriter, sessionID string) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set(sessionHeader, sessionID)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	s := &sseWriter{w: w, rc: rc}
	_ = s.flush()
	return s
}

// sessionHeader names the session in every answer that starts one.
const sessionHeader = "X-Tabshard-Session"

// event writes one event with an id and v as JSON data.
func (s *sseWriter) event(id int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "id: %d\ndata: %s\n\n", id, data); err != nil {
		return err
	}
	return s.flush()
}

// errorEvent writes an "error" event (no id: it is not a piece of the
// session, and a resumed stream does not repeat it) with v as JSON data.
func (s *sseWriter) errorEvent(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: error\ndata: %s\n\n", data); err != nil {
		return err
	}
	return s.flush()
}

// done writes the terminal "data: [DONE]" event.
func (s *sseWriter) done() error {
	if _, err := io.WriteString(s.w, "data: [DONE]\n\n"); err != nil {
		return err
	}
	return s.flush()
}

// comment writes an SSE comment, which clients ignore: a keep-alive.
func (s *sseWriter) comment() error {
	if _, err := io.WriteString(s.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	err := s.rc.Flush()
	if err == http.ErrNotSupported {
		return nil
	}
	return err
}
