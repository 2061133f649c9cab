// Package httpapi is the HTTP plumbing every function shares: RFC 9457
// problem+json errors with stable codes, strict JSON bodies, the caller's
// identity from the API Gateway authorizer, request logging and recovery.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/citycode/citycode/shared/logging"
)

// ProblemContentType is the media type of every error answer.
const ProblemContentType = "application/problem+json"

// ProblemTypeBase prefixes a problem's code to form its `type` URI.
const ProblemTypeBase = "https://citycode.dev/problems/"

// Error is an error with its answer: an HTTP status, a stable machine code
// and a detail safe to show to the caller.
type Error struct {
	Status int
	Code   string
	Detail string
	Fields []FieldError
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field  string `json:"field"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// NewError returns an *Error.
func NewError(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// Invalid returns the 422 validation_failed error for fields.
func Invalid(fields ...FieldError) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Detail: "some fields are invalid", Fields: fields}
}

// problem is the RFC 9457 body.
type problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Code     string       `json:"code"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// WriteProblem answers e as problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:     ProblemTypeBase + e.Code,
		Title:    http.StatusText(e.Status),
		Status:   e.Status,
		Detail:   e.Detail,
		Code:     e.Code,
		Instance: r.URL.Path,
		Errors:   e.Fields,
	})
}

// ErrorMap maps a capability's sentinel errors to their answers, in one place.
type ErrorMap map[error]*Error

// Internal is the answer to any error nobody mapped; its detail says nothing
// of the cause, which goes to the log with the request id instead.
var internal = &Error{Status: http.StatusInternalServerError, Code: "internal", Detail: "the request could not be completed; try again later"}

// WriteError answers err: an *Error as it is, a sentinel through m, anything
// else as 500 internal (logged, never shown).
func WriteError(w http.ResponseWriter, r *http.Request, m ErrorMap, err error) {
	var e *Error
	if errors.As(err, &e) {
		WriteProblem(w, r, e)
		return
	}
	for sentinel, answer := range m {
		if errors.Is(err, sentinel) {
			if answer.Status >= 500 {
				logging.FromContext(r.Context()).Error("request failed", "code", answer.Code, "error", err)
			}
			WriteProblem(w, r, answer)
			return
		}
	}
	logging.FromContext(r.Context()).Error("request failed", "error", err)
	WriteProblem(w, r, internal)
}

// WriteJSON answers v as JSON with status; the answer is not cached unless
// the handler set Cache-Control itself.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
