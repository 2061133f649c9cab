package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes is the largest request body any route accepts.
const MaxBodyBytes = 64 << 10

// DecodeJSON reads r's body strictly into v: application/json only, one
// object, no unknown fields, no trailing data, at most MaxBodyBytes. Every
// failure is an *Error naming what was wrong.
func DecodeJSON(r *http.Request, v any) error { return DecodeJSONUpTo(r, v, MaxBodyBytes) }

// DecodeJSONUpTo is DecodeJSON for the few routes that take more than
// MaxBodyBytes (a gate's batch of taps): at most limit bytes.
func DecodeJSONUpTo(r *http.Request, v any, limit int) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
	}
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewError(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON object")
	}
	return nil
}

// ReadBody reads the whole body, at most MaxBodyBytes, and leaves it readable
// again for the next reader.
func ReadBody(r *http.Request) ([]byte, error) { return readBody(r, MaxBodyBytes) }

func readBody(r *http.Request, limit int) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, NewError(http.StatusBadRequest, "invalid_body", "the body could not be read")
	}
	if len(body) > limit {
		return nil, NewError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body must be at most %d bytes", limit))
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	return body, nil
}

func decodeError(err error) *Error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return NewError(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return NewError(http.StatusBadRequest, "invalid_json", "the body must be a JSON object")
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Detail: fmt.Sprintf("field %q must be %s", field, jsonKind(typ.Type.Kind().String())),
			Fields: []FieldError{{Field: field, Code: "wrong_type", Detail: "must be " + jsonKind(typ.Type.Kind().String())}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: http.StatusBadRequest, Code: "unknown_field", Detail: fmt.Sprintf("field %q is not accepted here", field),
			Fields: []FieldError{{Field: field, Code: "unknown_field", Detail: "not accepted here"}}}
	default:
		return NewError(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	default:
		return "an object"
	}
}
