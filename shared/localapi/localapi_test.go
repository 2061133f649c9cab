package localapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/samtemplate"
)

const testTemplate = `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: {DefaultAuthorizer: Jwt}
  Table:
    Type: AWS::DynamoDB::Table
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: "/v1/things/{thing_id}", Auth: {AuthorizationScopes: [a, b]}}}
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /v1/things, Auth: {AuthorizationScopes: [a]}}}
        Public: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /v1/public, Auth: {Authorizer: NONE}}}
        Files: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: ANY, Path: "/v1/files/{path+}", Auth: {AuthorizationScopes: [a]}}}
  FailFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Panic: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /v1/panic, Auth: {Authorizer: NONE}}}
        Silent: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /v1/silent, Auth: {Authorizer: NONE}}}
`

// seen is what the echo function reports about the request it got.
type seen struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	RouteKey  string            `json:"route_key"`
	RequestID string            `json:"request_id"`
	Claims    map[string]string `json:"claims"`
	Cookies   []string          `json:"cookies"`
	Header    string            `json:"x_test"`
	Body      []byte            `json:"body"`
	Table     string            `json:"table"`
}

// echo is an app.Function whose handler answers with what it saw.
func echo(_ context.Context, env app.Env) (http.Handler, error) {
	table := env("TABLE")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw, _ := core.GetAPIGatewayV2ContextFromContext(r.Context())
		body, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, URL: r.URL.String(), RouteKey: gw.RouteKey, RequestID: gw.RequestID,
			Header: r.Header.Get("X-Test"), Body: body, Table: table}
		if gw.Authorizer != nil {
			s.Claims = gw.Authorizer.JWT.Claims
		}
		for _, c := range r.Cookies() {
			s.Cookies = append(s.Cookies, c.Name+"="+c.Value)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		http.SetCookie(w, &http.Cookie{Name: "c1", Value: "v1"})
		http.SetCookie(w, &http.Cookie{Name: "c2", Value: "v2"})
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(s)
	}), nil
}

func fail(context.Context, app.Env) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/panic" {
			panic("boom: secret detail")
		}
		// /v1/silent writes nothing, which the proxy adapter refuses.
	}), nil
}

type fixture struct {
	srv  *httptest.Server
	auth *devauth.Authority
	logs *logBuffer
}

// logBuffer collects log lines from concurrent requests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(testTemplate))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := devauth.New(key)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	h, err := New(t.Context(), Options{
		Template:  tmpl,
		Functions: map[string]app.Function{"EchoFunction": echo, "FailFunction": fail},
		Env: func(fn samtemplate.Function) map[string]string {
			return fn.Env(func(ref string) (string, bool) { return "local-" + ref, ref == "Table" })
		},
		Auth:   auth,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, auth: auth, logs: logs}
}

func (f *fixture) token(t *testing.T, scopes ...string) string {
	t.Helper()
	tok, err := f.auth.Issue("resident-1", scopes, "org-9", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader, header ...string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ok := f.token(t, "a")
	onlyC := f.token(t, "c")
	tests := []struct {
		name, method, path, token string
		header                    []string
		body                      io.Reader
		status                    int
		code                      string
		allow                     string
	}{
		{name: "no token", method: "GET", path: "/v1/things/1", status: 401, code: "unauthorized"},
		{name: "not a token", method: "GET", path: "/v1/things/1", token: "abc.def.ghi", status: 401, code: "unauthorized"},
		{name: "basic auth", method: "GET", path: "/v1/things/1", header: []string{"Authorization", "Basic dXNlcjpwYXNz"}, status: 401, code: "unauthorized"},
		{name: "token of another issuer key", method: "GET", path: "/v1/things/1", token: otherToken(t), status: 401, code: "unauthorized"},
		{name: "none of the scopes", method: "GET", path: "/v1/things/1", token: onlyC, status: 403, code: "forbidden"},
		{name: "unknown route", method: "GET", path: "/v1/nothing", token: ok, status: 404, code: "route_not_found"},
		{name: "trailing slash", method: "POST", path: "/v1/things/", token: ok, status: 404, code: "route_not_found"},
		{name: "wrong method", method: "DELETE", path: "/v1/things/1", token: ok, status: 405, code: "method_not_allowed", allow: "GET"},
		{name: "HEAD of a GET route", method: "HEAD", path: "/v1/things/1", token: ok, status: 405, allow: "GET"},
		{name: "body over 10 MB", method: "POST", path: "/v1/things", token: ok, body: bytes.NewReader(make([]byte, MaxBodyBytes+1)), status: 413, code: "body_too_large"},
		{name: "function panics", method: "GET", path: "/v1/panic", status: 502, code: "bad_gateway"},
		{name: "function answers nothing", method: "GET", path: "/v1/silent", status: 502, code: "bad_gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, tt.method, tt.path, tt.token, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.allow != "" && r.header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q, want %q", r.header.Get("Allow"), tt.allow)
			}
			if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			if tt.method == "HEAD" {
				return
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var p struct {
				Type, Title, Code string
				Status            int
			}
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if p.Type != httpapi.ProblemTypeBase+tt.code || p.Status != tt.status || p.Code != tt.code || p.Title == "" {
				t.Errorf("problem = %+v, want status %d code %s", p, tt.status, tt.code)
			}
			if strings.Contains(string(r.body), "secret") {
				t.Errorf("problem leaks the error: %s", r.body)
			}
		})
	}
}

func otherToken(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := devauth.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issue("resident-1", []string{"a"}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(t, "c", "b") // route GET /v1/things/{thing_id} wants a or b: any one will do
	r := f.do(t, "GET", "/v1/things/t%201?x=1&x=2&y=%C3%A9", tok, nil,
		"X-Test", "hello", "Cookie", "k1=v1; k2=v2")
	if r.status != http.StatusCreated {
		t.Fatalf("status = %d: %s", r.status, r.body)
	}
	var s seen
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if s.RequestID == "" || s.RequestID != r.header.Get("Apigw-Requestid") {
		t.Errorf("request id %q, Apigw-Requestid %q", s.RequestID, r.header.Get("Apigw-Requestid"))
	}
	jti := s.Claims["jti"]
	iat := s.Claims["iat"]
	want := seen{
		Method:    "GET",
		URL:       "https://" + strings.TrimPrefix(f.srv.URL, "http://") + "/v1/things/t%201?x=1&x=2&y=%C3%A9",
		RouteKey:  "GET /v1/things/{thing_id}",
		RequestID: s.RequestID,
		Claims: map[string]string{"iss": devauth.Issuer, "aud": devauth.Audience, "sub": "resident-1", "org": "org-9",
			"scope": "c b", "jti": jti, "iat": iat, "nbf": iat, "exp": s.Claims["exp"]},
		Cookies: []string{"k1=v1", "k2=v2"},
		Header:  "hello",
		Body:    []byte{},
		Table:   "local-Table",
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("function saw (-want +got):\n%s", diff)
	}
	if len(jti) != 32 || len(iat) != 10 {
		t.Errorf("jti %q, iat %q", jti, iat)
	}
	wantHeader := map[string][]string{
		"Content-Type": {"application/json"},
		"X-Multi":      {"1,2"},
		"Set-Cookie":   {"c1=v1", "c2=v2"},
	}
	for k, v := range wantHeader {
		if diff := cmp.Diff(v, r.header.Values(k)); diff != "" {
			t.Errorf("header %s (-want +got):\n%s", k, diff)
		}
	}

	// A binary body goes to the function and back intact, through base64.
	bin := []byte{0xff, 0x00, 0xfe, 'a'}
	r = f.do(t, "PUT", "/v1/files/a/b.bin", f.token(t, "a"), bytes.NewReader(bin))
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if r.status != 201 || !bytes.Equal(s.Body, bin) || s.RouteKey != "ANY /v1/files/{path+}" || s.Method != "PUT" {
		t.Errorf("PUT /v1/files/a/b.bin: status %d, saw %+v", r.status, s)
	}

	// A public route needs no token and carries no claims.
	r = f.do(t, "GET", "/v1/public", "", nil)
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if r.status != 201 || s.Claims != nil {
		t.Errorf("public route: status %d, claims %v", r.status, s.Claims)
	}

	// One JSON log line per request.
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "gateway" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 || lines[0]["route"] != "GET /v1/things/{thing_id}" || lines[0]["status"] != float64(201) || lines[0]["method"] != "GET" {
		t.Errorf("log lines = %v", lines)
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.do(t, "GET", "/.well-known/jwks.json", "", nil)
	var set devauth.KeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	if r.status != 200 || len(set.Keys) != 1 || set.Keys[0].Kid != f.auth.KeyID() {
		t.Errorf("jwks: %d %s", r.status, r.body)
	}
}

// TestEvent checks the event in full, field by field.
func TestEvent(t *testing.T) {
	t.Parallel()
	rt := &route{Route: samtemplate.Route{Method: "PATCH", Path: "/v1/holders/me/dependants/{holder_id}/{rest+}"}}
	req := httptest.NewRequest("PATCH", "http://api.example:3000/v1/holders/me/dependants/hdr_1/a/b?limit=5&tag=x&tag=y", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("User-Agent", "curl/8")
	req.Header.Add("Accept", "a")
	req.Header.Add("Accept", "b")
	req.Header.Set("Cookie", "s=1; t=2")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	req.SetPathValue("holder_id", "hdr_1")
	req.SetPathValue("rest", "a/b")
	now := time.Date(2026, 11, 22, 8, 30, 5, 123e6, time.UTC)
	claims := devauth.Claims{"sub": "u", "scope": "resident x", "aud": "citycode-local", "exp": json.Number("1795334400"),
		"admin": false, "groups": []any{"g1", "g2"}, "obj": map[string]any{"k": "v"}}
	got := rt.event(req, []byte(`{"name":"张伟"}`), claims, "REQ=", now)
	want := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "PATCH /v1/holders/me/dependants/{holder_id}/{rest+}",
		RawPath:        "/v1/holders/me/dependants/hdr_1/a/b",
		RawQueryString: "limit=5&tag=x&tag=y",
		Cookies:        []string{"s=1", "t=2"},
		Headers: map[string]string{
			"accept": "a,b", "user-agent": "curl/8", "host": "api.example:3000",
			"x-forwarded-for": "198.51.100.1, 192.0.2.7", "x-forwarded-proto": "http", "x-forwarded-port": "3000",
		},
		QueryStringParameters: map[string]string{"limit": "5", "tag": "x,y"},
		PathParameters:        map[string]string{"holder_id": "hdr_1", "rest": "a/b"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "PATCH /v1/holders/me/dependants/{holder_id}/{rest+}",
			AccountID:    AccountID,
			Stage:        "$default",
			RequestID:    "REQ=",
			APIID:        "local",
			DomainName:   "api.example:3000",
			DomainPrefix: "api",
			Time:         "22/Nov/2026:08:30:05 +0000",
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "PATCH", Path: "/v1/holders/me/dependants/hdr_1/a/b", Protocol: "HTTP/1.1",
				SourceIP: "192.0.2.7", UserAgent: "curl/8",
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{
					"sub": "u", "scope": "resident x", "aud": "citycode-local", "exp": "1795334400",
					"admin": "false", "groups": "[g1 g2]", "obj": `{"k":"v"}`,
				}},
			},
		},
		Body: `{"name":"张伟"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}

	got = rt.event(req, []byte{0xff, 0xfe}, nil, "REQ=", now)
	if !got.IsBase64Encoded || got.Body != "//4=" || got.RequestContext.Authorizer != nil {
		t.Errorf("binary body: base64 %v, body %q, authorizer %v", got.IsBase64Encoded, got.Body, got.RequestContext.Authorizer)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := devauth.New(key)
	if err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context, app.Env) (http.Handler, error) { return nil, errors.New("no table") }
	tests := []struct {
		name, template string
		fns            map[string]app.Function
	}{
		{"function missing from the registry", testTemplate, map[string]app.Function{"EchoFunction": echo}},
		{"function fails to build", testTemplate, map[string]app.Function{"EchoFunction": echo, "FailFunction": failing}},
		{"duplicate route", `
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        A: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
        B: {Type: HttpApi, Properties: {Method: get, Path: /x}}
`, map[string]app.Function{"F": echo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := samtemplate.Parse([]byte(tt.template))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(t.Context(), Options{
				Template: tmpl, Functions: tt.fns, Auth: auth, Logger: slog.New(slog.DiscardHandler),
				Env: func(samtemplate.Function) map[string]string { return nil },
			})
			if err == nil {
				t.Error("New succeeded")
			}
		})
	}
}
