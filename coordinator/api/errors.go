package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Sentinel errors a Backend returns, wrapped with %w and a message that says
// what went wrong; the server maps each to an HTTP status and an OpenAI
// error type (see statusOf).
var (
	// ErrUnknownModel is a model name the cluster does not serve: 400 on
	// the completion endpoints (param "model"), 404 on /model/<name>.
	ErrUnknownModel = errors.New("unknown model")
	// ErrUnknownSession is a session id no coordinator has committed: 404.
	ErrUnknownSession = errors.New("unknown session")
	// ErrBadRequest is a request the Backend refuses as invalid: 400.
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable means this coordinator cannot serve right now (no
	// leader, no committed plan, NATS disconnected): 503 with Retry-After.
	ErrUnavailable = errors.New("unavailable")
)

// OpenAI error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
)

// apiError is an error response: an HTTP status and the OpenAI error body.
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string // "" is written as null
	Code    string // "" is written as null
	// RetryAfter, when set, is sent as the Retry-After header (a 503
	// without it says 1 s).
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }

// badParam is a 400 about one request field.
func badParam(param, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: message, Type: typeInvalidRequest, Param: param}
}

// errorBody is the JSON shape of an OpenAI error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *apiError) body() errorBody {
	return errorBody{Error: errorDetail{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}}
}

// asAPIError turns any error into the response it deserves: an *apiError
// as is, a Backend sentinel by its status, anything else a 500.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Message: err.Error(), Type: typeInvalidRequest, Code: "request_too_large"}
	case errors.Is(err, ErrUnknownModel):
		return &apiError{Status: http.StatusBadRequest, Message: err.Error(), Type: typeInvalidRequest, Param: "model", Code: "model_not_found"}
	case errors.Is(err, ErrUnknownSession):
		return &apiError{Status: http.StatusNotFound, Message: err.Error(), Type: typeInvalidRequest, Code: "session_not_found"}
	case errors.Is(err, ErrBadRequest):
		return &apiError{Status: http.StatusBadRequest, Message: err.Error(), Type: typeInvalidRequest}
	case errors.Is(err, ErrUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Message: err.Error(), Type: typeServer, Code: "unavailable"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Message: err.Error(), Type: typeServer, Code: "timeout"}
	}
	return &apiError{Status: http.StatusInternalServerError, Message: err.Error(), Type: typeServer}
}

// writeError writes err as an OpenAI error response.
func writeError(w http.ResponseWriter, err error) {
	ae := asAPIError(err)
	switch {
	case ae.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(max(ae.RetryAfter.Round(time.Second), time.Second)/time.Second)))
	case ae.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.Status, ae.body())
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
