package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/google/go-cmp/cmp"
)

type sample struct {
	Name   string `json:"name"`
	Amount int64  `json:"amount"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
		wantField   string
	}{
		{name: "ok", contentType: "application/json", body: `{"name":"a","amount":3}`},
		{name: "charset ok", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`},
		{name: "malformed", contentType: "application/json", body: `{"name":`, wantStatus: 400, wantCode: "invalid_json"},
		{name: "not an object", contentType: "application/json", body: `[1,2]`, wantStatus: 400, wantCode: "invalid_json"},
		{name: "empty", contentType: "application/json", body: ``, wantStatus: 400, wantCode: "invalid_json"},
		{name: "unknown field", contentType: "application/json", body: `{"name":"a","admin":true}`, wantStatus: 400, wantCode: "unknown_field", wantField: "admin"},
		{name: "wrong type", contentType: "application/json", body: `{"amount":"12"}`, wantStatus: 400, wantCode: "invalid_json", wantField: "amount"},
		{name: "float for integer", contentType: "application/json", body: `{"amount":1.5}`, wantStatus: 400, wantCode: "invalid_json", wantField: "amount"},
		{name: "trailing data", contentType: "application/json", body: `{"name":"a"}{"name":"b"}`, wantStatus: 400, wantCode: "invalid_json"},
		{name: "too large", contentType: "application/json", body: `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, wantStatus: 413, wantCode: "body_too_large"},
		{name: "not json", contentType: "text/plain", body: `{"name":"a"}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "no content type", body: `{"name":"a"}`, wantStatus: 415, wantCode: "unsupported_media_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			var v sample
			err := DecodeJSON(r, &v)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("DecodeJSON error = %v, want *Error", err)
			}
			if e.Status != tc.wantStatus || e.Code != tc.wantCode {
				t.Errorf("got %d %s, want %d %s", e.Status, e.Code, tc.wantStatus, tc.wantCode)
			}
			if tc.wantField != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.wantField) {
				t.Errorf("fields = %+v, want one naming %q", e.Fields, tc.wantField)
			}
		})
	}
}

func TestWriteErrorNeverLeaksInternalText(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	WriteError(w, r, nil, errSecret{})
	if w.Code != 500 || w.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "dynamodb") {
		t.Errorf("body leaks the cause: %s", w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": ProblemTypeBase + "internal", "title": "Internal Server Error", "status": 500.0,
		"detail": "the request could not be completed; try again later", "code": "internal", "instance": "/v1/x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem (-want +got):\n%s", diff)
	}
}

type errSecret struct{}

func (errSecret) Error() string { return "dynamodb: table citycode-holders unreachable" }

func TestServeRecoversPanics(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := Serve(discardLogger(), mux)
	for path, want := range map[string]int{"/boom": 500, "/nowhere": 404} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want || w.Header().Get("Content-Type") != ProblemContentType {
			t.Errorf("%s: got %d %q, want %d problem+json", path, w.Code, w.Header().Get("Content-Type"), want)
		}
	}
}

func TestParsePage(t *testing.T) {
	t.Parallel()
	for query, want := range map[string]int{"": 20, "limit=1": 1, "limit=100": 100, "limit=0": 0, "limit=101": 0, "limit=x": 0} {
		p, err := ParsePage(httptest.NewRequest(http.MethodGet, "/v1/x?cursor=c&"+query, nil))
		if want == 0 {
			if e, ok := err.(*Error); !ok || e.Code != "invalid_query" {
				t.Errorf("%q: %v, want invalid_query", query, err)
			}
			continue
		}
		if err != nil || p.Limit != want || p.Cursor != "c" {
			t.Errorf("%q: %+v %v, want limit %d", query, p, err, want)
		}
	}
}

func TestPrincipalScopesLoseTheCognitoPrefix(t *testing.T) {
	t.Parallel()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/", RequestContext: events.APIGatewayV2HTTPRequestContext{
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/"},
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"sub": "u1", "scope": "openid citycode/resident scan:hotel"}}}}}
	var got Principal
	_, err := httpadapter.NewV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = PrincipalFrom(r)
		w.WriteHeader(204)
	})).ProxyWithContext(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"openid", "resident", "scan:hotel"}, got.Scopes); diff != "" || !got.HasScope("resident") {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}
