// Package localapi serves every route of template.yaml in one process, the
// way API Gateway's HTTP API serves them in AWS: it checks the route's JWT
// authorizer and scopes (with dev tokens from shared/devauth), builds the
// payload-2.0 event API Gateway would send, and calls the function's Lambda
// handler in-process. It is what `make run` serves.
package localapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/samtemplate"
)

// MaxBodyBytes is API Gateway's limit on a request's payload.
const MaxBodyBytes = 10 << 20

// AccountID is the account id the local events carry.
const AccountID = "123456789012"

// Options are what New needs.
type Options struct {
	// Template lists the functions and routes to serve.
	Template *samtemplate.Template
	// Functions gives each template function's code by logical id
	// (registry.Functions).
	Functions map[string]app.Function
	// Env gives each template function's environment.
	Env func(samtemplate.Function) map[string]string
	// Auth verifies bearer tokens; its key set is served at
	// /.well-known/jwks.json.
	Auth *devauth.Authority
	// Logger receives one line per request.
	Logger *slog.Logger
}

// gateway routes requests to the functions' handlers.
type gateway struct {
	mux    *http.ServeMux
	auth   *devauth.Authority
	logger *slog.Logger
	// fallback answers 405 for a known path with another method, else 404.
	fallback http.Handler
}

// New builds every template function once, with lambdahttp.Build, and
// returns the handler that serves all their routes.
func New(ctx context.Context, o Options) (http.Handler, error) {
	if o.Template == nil || o.Env == nil || o.Auth == nil || o.Logger == nil {
		return nil, errors.New("localapi: Template, Env, Auth and Logger are required")
	}
	g := &gateway{mux: http.NewServeMux(), auth: o.Auth, logger: o.Logger}
	handlers := map[string]lambdahttp.Handler{}
	for _, fn := range o.Template.Functions {
		if len(fn.Routes) == 0 {
			continue // not behind the API: a job, run by the local scheduler
		}
		code, ok := o.Functions[fn.LogicalID]
		if !ok {
			return nil, fmt.Errorf("template function %s has no code in the registry", fn.LogicalID)
		}
		env := o.Env(fn)
		h, err := lambdahttp.Build(ctx, code, func(k string) string { return env[k] })
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", fn.LogicalID, err)
		}
		handlers[fn.LogicalID] = h
	}

	paths := http.NewServeMux()
	allowed := map[string][]string{}
	for _, r := range o.Template.Routes() {
		pattern := muxPath(r.Path)
		if r.Method != "ANY" {
			pattern = r.Method + " " + pattern
		}
		rt := &route{Route: r, handler: handlers[r.Function], g: g}
		if err := handle(g.mux, pattern, rt); err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Key(), err)
		}
		allowed[muxPath(r.Path)] = append(allowed[muxPath(r.Path)], r.Method)
	}
	for p, methods := range allowed {
		if err := handle(paths, p, methodNotAllowed(methods)); err != nil {
			return nil, fmt.Errorf("path %s: %w", p, err)
		}
	}
	paths.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusNotFound, "route_not_found", "No route matches "+r.Method+" "+r.URL.Path+"."))
	}))
	g.fallback = paths
	if err := handle(g.mux, "/", paths); err != nil {
		return nil, err
	}
	if err := handle(g.mux, "GET /.well-known/jwks.json", http.HandlerFunc(g.jwks)); err != nil {
		return nil, err
	}
	return g, nil
}

var greedy = regexp.MustCompile(`\{([^{}]+)\+\}`)

// muxPath turns an API Gateway path into a ServeMux one: {name+} matches
// the rest of the path, as {name...} does.
func muxPath(p string) string { return greedy.ReplaceAllString(p, "{$1...}") }

// handle registers h, turning ServeMux's panic on a bad or conflicting
// pattern into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

func methodNotAllowed(methods []string) http.Handler {
	slices.Sort(methods)
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not a route of "+r.URL.Path+"; allowed: "+allow+"."))
	})
}

func (g *gateway) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(g.auth.JWKS())
}

// ServeHTTP serves one request and logs it.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK, route: "-", requestID: newRequestID()}
	rec.Header().Set("Apigw-Requestid", rec.requestID)
	g.mux.ServeHTTP(rec, r)
	g.logger.Info("gateway", "method", r.Method, "path", r.URL.Path, "route", rec.route,
		"status", rec.status, "duration_ms", time.Since(start).Milliseconds(), "request_id", rec.requestID)
}

// recorder keeps what the request log line needs.
type recorder struct {
	http.ResponseWriter
	status    int
	route     string
	requestID string
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// newRequestID makes an id shaped like API Gateway's (e.g. "JKJaXmPLvHcESHA=").
func newRequestID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// route serves one template route.
type route struct {
	samtemplate.Route
	handler lambdahttp.Handler
	g       *gateway
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rt.Method != "ANY" && r.Method != rt.Method { // ServeMux lets HEAD into GET routes
		rt.g.fallback.ServeHTTP(w, r)
		return
	}
	rec := w.(*recorder) // gateway.ServeHTTP wraps every request
	rec.route = rt.Key()
	requestID := rec.requestID
	var claims devauth.Claims
	if !rt.Public {
		var ok bool
		if claims, ok = rt.authorize(w, r); !ok {
			return
		}
	}
	if r.ContentLength > MaxBodyBytes {
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusRequestEntityTooLarge, "body_too_large", "The request body is over API Gateway's 10 MB limit."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusBadRequest, "bad_request", "The request body could not be read."))
		return
	}
	if len(body) > MaxBodyBytes {
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusRequestEntityTooLarge, "body_too_large", "The request body is over API Gateway's 10 MB limit."))
		return
	}
	ev := rt.event(r, body, claims, requestID, time.Now())
	resp, err := rt.invoke(r.Context(), ev)
	if err != nil {
		rt.g.logger.Error("function failed", "function", rt.Function, "route", rt.Key(), "request_id", requestID, "error", err)
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusBadGateway, "bad_gateway", "The function failed to answer."))
		return
	}
	writeResponse(w, resp)
}

// invoke calls the function's handler as the Lambda runtime would, turning
// a panic into an error.
func (rt *route) invoke(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: ev.RequestContext.RequestID})
	resp, err = rt.handler(ctx, ev)
	if err == nil && resp.IsBase64Encoded {
		if _, decErr := base64.StdEncoding.DecodeString(resp.Body); decErr != nil {
			err = fmt.Errorf("response body is not base64: %w", decErr)
		}
	}
	return resp, err
}

// authorize checks the bearer token and the route's scopes as API Gateway's
// JWT authorizer does: a token is required, valid, and has at least one of
// the route's scopes.
func (rt *route) authorize(w http.ResponseWriter, r *http.Request) (devauth.Claims, bool) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusUnauthorized, "unauthorized", "A bearer token is required (scripts/devtoken makes one)."))
		return nil, false
	}
	claims, err := rt.g.auth.Verify(token)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusUnauthorized, "unauthorized", "The bearer token is invalid or expired."))
		return nil, false
	}
	if len(rt.Scopes) > 0 && !slices.ContainsFunc(claims.Scopes(), func(s string) bool { return slices.Contains(rt.Scopes, s) }) {
		httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "forbidden", "The token has none of this route's scopes: "+strings.Join(rt.Scopes, ", ")+"."))
		return nil, false
	}
	return claims, true
}

// bearer takes the token from an Authorization header. Like API Gateway it
// also takes a bare token without the Bearer prefix.
func bearer(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		h = strings.TrimSpace(token)
	}
	return h, h != "" && !strings.Contains(h, " ")
}

// event builds the payload-2.0 event API Gateway sends for r. Like API
// Gateway's HTTP API it gives the path decoded and the query string raw.
func (rt *route) event(r *http.Request, body []byte, claims devauth.Claims, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	host := r.Host
	headers["host"] = host
	if prev := headers["x-forwarded-for"]; prev != "" {
		headers["x-forwarded-for"] = prev + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(host); err == nil {
		headers["x-forwarded-port"] = port
	}
	hostname, _, err := net.SplitHostPort(host)
	if err != nil {
		hostname = host
	}
	prefix, _, _ := strings.Cut(hostname, ".")

	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       rt.Key(),
		RawPath:        r.URL.Path,
		RawQueryString: r.URL.RawQuery,
		Cookies:        cookies,
		Headers:        headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     rt.Key(),
			AccountID:    AccountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   host,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	for _, name := range pathParams(rt.Path) {
		if ev.PathParameters == nil {
			ev.PathParameters = map[string]string{}
		}
		ev.PathParameters[name] = r.PathValue(name)
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claimStrings(claims)},
		}
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

var param = regexp.MustCompile(`\{([^{}+]+)\+?\}`)

// pathParams lists the parameter names of an API Gateway path.
func pathParams(path string) []string {
	var names []string
	for _, m := range param.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}

// claimStrings renders claims as API Gateway's JWT authorizer hands them to
// the function: every value a string, numbers as written, arrays as
// "[a b]", objects as JSON.
func claimStrings(c devauth.Claims) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = claimString(v)
	}
	return out
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// writeResponse writes a function's payload-2.0 response.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(resp.Body) // invoke has checked it
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
