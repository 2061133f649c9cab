// Package apitest runs the whole local API for a test: the real template's
// routes, the registry's functions, DynamoDB Local tables of the test's own,
// and the local JWT authorizer. Every answer is checked against
// infra/openapi.yaml, so tests fail when the code and the contract disagree.
package apitest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/localapi"
	"github.com/citycode/citycode/shared/localenv"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/openapitest"
	"github.com/citycode/citycode/shared/registry"
	"github.com/citycode/citycode/shared/samtemplate"
)

// API is one test's running local API.
type API struct {
	t        testing.TB
	srv      *httptest.Server
	auth     *devauth.Authority
	contract *openapitest.Contract
	// DB is the test's DynamoDB Local tables.
	DB *dynamotest.Env
	// Secrets are the test's keys: the home issuer and a peer city.
	Secrets   localenv.Secrets
	envOf     func(samtemplate.Function) map[string]string
	messaging localstack.Messaging
}

// Option changes how New starts the API.
type Option func(*options)

type options struct {
	env map[string]map[string]string // by function logical id
}

// WithEnv sets variables in the environment of the function logicalID,
// over the template's: a test gives a function, say, a data file made for
// it (an absolute path).
func WithEnv(logicalID string, vars map[string]string) Option {
	return func(o *options) {
		if o.env[logicalID] == nil {
			o.env[logicalID] = map[string]string{}
		}
		maps.Copy(o.env[logicalID], vars)
	}
}

// New starts the API for t; it stops when t ends.
func New(t testing.TB, opts ...Option) *API {
	t.Helper()
	o := options{env: map[string]map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	db := dynamotest.New(t)
	messaging := db.WithMessaging(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := devauth.New(key)
	if err != nil {
		t.Fatal(err)
	}
	secrets := Secrets(t, db)
	envOf := func(fn samtemplate.Function) map[string]string {
		env := db.FunctionEnv(t, fn.LogicalID)
		maps.Copy(env, secrets.Env)
		maps.Copy(env, o.env[fn.LogicalID])
		return env
	}
	h, err := localapi.New(t.Context(), localapi.Options{
		Template:  db.Template,
		Functions: registry.Functions,
		Env:       envOf,
		Auth:      auth,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &API{t: t, srv: srv, auth: auth, contract: openapitest.Load(t), DB: db, Secrets: secrets, envOf: envOf, messaging: messaging}
}

// StartJobs runs the template's jobs for the rest of the test as make run
// does: stream-triggered ones from DynamoDB Local's streams (from their
// start, so what was written before is processed too) and queue-triggered
// ones from moto's queues.
func (a *API) StartJobs() {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	env := a.DB.FunctionEnv(a.t, "HoldersFunction")
	cfg, err := awsclient.Config(ctx, func(k string) string { return env[k] })
	if err != nil {
		a.t.Fatal(err)
	}
	streams := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(a.DB.Endpoint) })
	if err := localapi.RunStreamTriggers(ctx, a.DB.Template, registry.Jobs, a.envOf,
		localapi.Streams{DB: a.DB.Client, Streams: streams, Tables: a.DB.Tables}, log); err != nil {
		a.t.Fatal(err)
	}
	sqsc := sqs.NewFromConfig(mototest.Config(env["SQS_ENDPOINT"]))
	if err := localapi.RunQueueTriggers(ctx, a.DB.Template, registry.Jobs, a.envOf,
		localapi.Queues{Client: sqsc, URLs: a.messaging.Refs, ARNs: a.messaging.QueueARNs}, log); err != nil {
		a.t.Fatal(err)
	}
}

// Secrets makes a test's keys in a temp dir and publishes its trust list
// into the test's trust table. The keys were made an hour ago, so that
// tests can sign codes in the recent past (expired ones, for instance).
func Secrets(t testing.TB, db *dynamotest.Env) localenv.Secrets {
	t.Helper()
	cfg, err := dynamolite.ConfigFromEnv(db.AppEnv(t, "QrVerifyFunction"))
	if err != nil {
		t.Fatal(err)
	}
	lite, err := dynamolite.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := localenv.Prepare(t.Context(), t.TempDir(), lite, db.Tables["TrustTable"], time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Token issues a token for sub with scopes (space-separated), like
// scripts/devtoken.
func (a *API) Token(sub, scopes string) string {
	a.t.Helper()
	tok, err := a.auth.Issue(sub, strings.Fields(scopes), "", time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// TokenWithOrg issues a machine client's token: sub of organisation org.
func (a *API) TokenWithOrg(sub, scopes, org string) (string, error) {
	return a.auth.Issue(sub, strings.Fields(scopes), org, time.Hour)
}

// Response is an answer with its body decoded when it is JSON.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Code is the problem code of an error answer.
func (r Response) Code() string { s, _ := r.JSON["code"].(string); return s }

// Request is what Do sends.
type Request struct {
	Method, Path, Token string
	// Body is sent as application/json unless ContentType says otherwise.
	Body        string
	ContentType string
	Header      map[string]string
}

// Do sends req and checks the answer against the OpenAPI document.
func (a *API) Do(req Request) Response {
	a.t.Helper()
	r, err := http.NewRequest(req.Method, a.srv.URL+req.Path, strings.NewReader(req.Body))
	if err != nil {
		a.t.Fatal(err)
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.Body != "" {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	resp, err := a.srv.Client().Do(r)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "json") {
		if err := json.Unmarshal(body, &out.JSON); err != nil {
			a.t.Errorf("%s %s: %s body is not JSON: %s", req.Method, req.Path, ct, body)
		}
	}
	// Only answers from the functions are in the contract; the gateway's own
	// (401/403/404 route_not_found/413 over 10 MB) are checked by callers.
	if resp.StatusCode != http.StatusUnauthorized && out.Code() != "route_not_found" && out.Code() != "method_not_allowed" {
		r.URL.Host, r.URL.Scheme = "api.citycode.test", "https"
		a.contract.CheckResponse(a.t, r, []byte(req.Body), resp.StatusCode, resp.Header, bytes.Clone(body))
	}
	return out
}
