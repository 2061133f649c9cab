package subscriptions

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/openapitest"
	"github.com/citycode/citycode/shared/outbox"
)

// fixture is the subscriptions function as Lambda runs it, over its own
// tables, answering API Gateway v2 events.
type fixture struct {
	t        *testing.T
	h        lambdahttp.Handler
	db       *dynamotest.Env
	store    *Store
	contract *openapitest.Contract
}

type options struct {
	// queueURL and sqsEndpoint: the retry queue; a dead address when the
	// test never replays.
	queueURL, sqsEndpoint string
	insecure              bool
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	store, db := newStore(t)
	if o.queueURL == "" {
		o.queueURL, o.sqsEndpoint = "http://127.0.0.1:1/000000000000/unused", "http://127.0.0.1:1"
	}
	env := map[string]string{
		"SUBSCRIPTIONS_TABLE":      store.table,
		"IDEMPOTENCY_TABLE":        db.Tables["IdempotencyTable"],
		"EVENTS_TABLE":             db.Tables["EventsTable"],
		"DELIVERY_RETRY_QUEUE_URL": o.queueURL,
		"SQS_ENDPOINT":             o.sqsEndpoint,
		"DYNAMODB_ENDPOINT":        db.Endpoint,
		"AWS_REGION":               localstack.Region,
		"LOG_LEVEL":                "error",
	}
	if o.insecure {
		env["ALLOW_INSECURE_WEBHOOKS"] = "true"
	}
	h, err := lambdahttp.Build(t.Context(), New, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, h: h, db: db, store: store, contract: openapitest.Load(t)}
}

// call is a request as the client sends it and the authorizer passes it.
type call struct {
	method, path, body string
	// org is the token's org claim; scope its scopes (default Scope);
	// anonymous sends no token at all.
	org, scope string
	anonymous  bool
	header     map[string]string
}

type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (a answer) code() string { s, _ := a.json["code"].(string); return s }

// do invokes the handler with c and checks the answer against the contract.
func (f *fixture) do(c call) answer {
	f.t.Helper()
	path, query, _ := strings.Cut(c.path, "?")
	headers := map[string]string{"host": "api.citycode.test"}
	if c.body != "" {
		headers["content-type"] = "application/json"
	}
	for k, v := range c.header {
		headers[strings.ToLower(k)] = v
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: path, RawQueryString: query, Headers: headers, Body: c.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.citycode.test", RequestID: "test", Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: c.method, Path: path, SourceIP: "203.0.113.1"},
		},
	}
	if !c.anonymous {
		scope := c.scope
		if scope == "" {
			scope = Scope
		}
		claims := map[string]string{"sub": c.org + "-client", "scope": scope}
		if c.org != "" {
			claims["org"] = c.org
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	resp, err := f.h(f.t.Context(), ev)
	if err != nil {
		f.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	out := answer{status: resp.StatusCode, header: http.Header{}, body: []byte(resp.Body)}
	if resp.IsBase64Encoded {
		if out.body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			f.t.Fatal(err)
		}
	}
	for k, v := range resp.Headers {
		out.header.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			out.header.Add(k, v)
		}
	}
	if strings.Contains(out.header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(out.body, &out.json); err != nil {
			f.t.Errorf("%s %s: body is not JSON: %s", c.method, c.path, out.body)
		}
	}
	f.check(c, headers, out)
	return out
}

func (f *fixture) check(c call, headers map[string]string, a answer) {
	f.t.Helper()
	r, err := http.NewRequest(c.method, "https://api.citycode.test"+c.path, strings.NewReader(c.body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	f.contract.CheckResponse(f.t, r, []byte(c.body), a.status, a.header, a.body)
}

// create subscribes org's endpoint to types and fails the test otherwise.
func (f *fixture) create(org string, types ...string) answer {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"endpoint": "https://hooks." + org + ".example/in", "types": types})
	a := f.do(call{method: "POST", path: "/v1/subscriptions", org: org, body: string(body)})
	if a.status != http.StatusCreated {
		f.t.Fatalf("create for %s: %d %s", org, a.status, a.body)
	}
	return a
}

func (a answer) id() string { s, _ := a.json["subscription_id"].(string); return s }

func TestCreateGetListPatchDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	created := f.create(police, enrolled, enrolled)
	id := created.id()
	if got := created.header.Get("Location"); got != "/v1/subscriptions/"+id {
		t.Errorf("Location = %q", got)
	}
	want := map[string]any{"subscription_id": id, "endpoint": "https://hooks.police-demo.example/in",
		"types": []any{enrolled}, "status": "active", "created_at": created.json["created_at"], "updated_at": created.json["updated_at"]}
	secret, _ := created.json["secret"].(string)
	if !strings.HasPrefix(secret, SecretPrefix) {
		t.Errorf("created without a secret: %s", created.body)
	}
	delete(created.json, "secret")
	if diff := cmp.Diff(want, created.json); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}

	got := f.do(call{method: "GET", path: "/v1/subscriptions/" + id, org: police})
	if got.status != 200 {
		t.Fatalf("get: %d %s", got.status, got.body)
	}
	if diff := cmp.Diff(want, got.json); diff != "" {
		t.Errorf("got (-want +got):\n%s", diff)
	}

	second := f.create(police, "city.lodging.*")
	list := f.do(call{method: "GET", path: "/v1/subscriptions?limit=1", org: police})
	items, _ := list.json["items"].([]any)
	if list.status != 200 || len(items) != 1 || items[0].(map[string]any)["subscription_id"] != id || list.json["next_cursor"] == nil {
		t.Fatalf("first page: %d %s", list.status, list.body)
	}
	list = f.do(call{method: "GET", path: "/v1/subscriptions?limit=1&cursor=" + list.json["next_cursor"].(string), org: police})
	items, _ = list.json["items"].([]any)
	if list.status != 200 || len(items) != 1 || items[0].(map[string]any)["subscription_id"] != second.id() {
		t.Fatalf("second page: %d %s", list.status, list.body)
	}

	patched := f.do(call{method: "PATCH", path: "/v1/subscriptions/" + id, org: police,
		body: `{"status":"paused","endpoint":"https://hooks.police-demo.example/v2","types":["city.lodging.*","city.holder.enrolled.v1"]}`})
	if patched.status != 200 {
		t.Fatalf("patch: %d %s", patched.status, patched.body)
	}
	if patched.json["status"] != "paused" || patched.json["endpoint"] != "https://hooks.police-demo.example/v2" ||
		!cmp.Equal(patched.json["types"], []any{"city.lodging.*", enrolled}) || patched.json["created_at"] != want["created_at"] {
		t.Errorf("patched: %s", patched.body)
	}
	if a := f.do(call{method: "PATCH", path: "/v1/subscriptions/" + id, org: police, body: `{"status":"active"}`}); a.status != 200 || a.json["status"] != "active" {
		t.Errorf("resume: %d %s", a.status, a.body)
	}

	if a := f.do(call{method: "DELETE", path: "/v1/subscriptions/" + id, org: police}); a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	for _, c := range []call{
		{method: "GET", path: "/v1/subscriptions/" + id},
		{method: "DELETE", path: "/v1/subscriptions/" + id},
		{method: "PATCH", path: "/v1/subscriptions/" + id, body: `{"status":"paused"}`},
	} {
		c.org = police
		if a := f.do(c); a.status != 404 || a.code() != "subscription_not_found" {
			t.Errorf("%s after delete: %d %s", c.method, a.status, a.body)
		}
	}
	list = f.do(call{method: "GET", path: "/v1/subscriptions", org: police})
	if items, _ := list.json["items"].([]any); len(items) != 1 {
		t.Errorf("list after delete: %s", list.body)
	}
}

func TestSecretIsShownOnceAndRotationOverlaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	created := f.create(police, enrolled)
	id := created.id()
	first := created.json["secret"].(string)

	for _, c := range []call{{method: "GET", path: "/v1/subscriptions/" + id}, {method: "GET", path: "/v1/subscriptions"}} {
		c.org = police
		a := f.do(c)
		if a.status != 200 || bytes.Contains(a.body, []byte("whsec_")) || bytes.Contains(a.body, []byte(`"secret`)) {
			t.Errorf("%s shows a secret: %s", c.path, a.body)
		}
	}

	before := time.Now()
	rotated := f.do(call{method: "POST", path: "/v1/subscriptions/" + id + "/secret-rotations", org: police})
	if rotated.status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", rotated.status, rotated.body)
	}
	second, _ := rotated.json["secret"].(string)
	if !strings.HasPrefix(second, SecretPrefix) || second == first {
		t.Fatalf("rotation answered secret %q (first %q)", second, first)
	}
	until, err := time.Parse(time.RFC3339Nano, rotated.json["previous_secret_expires_at"].(string))
	if err != nil || until.Before(before.Add(RotationOverlap)) || until.After(time.Now().Add(RotationOverlap)) {
		t.Errorf("previous_secret_expires_at = %v, want 24 h from now", rotated.json["previous_secret_expires_at"])
	}

	// Both secrets sign during the overlap: the stored keys are the ones
	// shown, the new one first.
	sub, err := f.store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, s := range sub.LiveSecrets(time.Now()) {
		shown = append(shown, FormatSecret(s.Key))
	}
	if diff := cmp.Diff([]string{second, first}, shown); diff != "" {
		t.Errorf("signing secrets (-want +got):\n%s", diff)
	}
	if a := f.do(call{method: "GET", path: "/v1/subscriptions/" + id, org: police}); bytes.Contains(a.body, []byte("whsec_")) {
		t.Errorf("GET after rotation shows a secret: %s", a.body)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	body := `{"endpoint":"https://hooks.police-demo.example/in","types":["city.holder.enrolled.v1"]}`
	key := map[string]string{"Idempotency-Key": "create-1"}
	a := f.do(call{method: "POST", path: "/v1/subscriptions", org: police, body: body, header: key})
	b := f.do(call{method: "POST", path: "/v1/subscriptions", org: police, body: body, header: key})
	if a.status != 201 || b.status != 201 || a.id() != b.id() || a.json["secret"] != b.json["secret"] || b.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %s / %d %s", a.status, a.body, b.status, b.body)
	}
	list := f.do(call{method: "GET", path: "/v1/subscriptions", org: police})
	if items, _ := list.json["items"].([]any); len(items) != 1 {
		t.Errorf("a retried create made %d subscriptions", len(items))
	}
}

func TestOrganisationsAreIsolated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	mine := f.create(police, enrolled)
	id := mine.id()
	if err := f.store.AddDeadLetter(t.Context(), id, envelope("0199a8f0-0000-7000-8000-000000000001", time.Now()), 8, 500, "endpoint answered 500"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{
		{method: "GET", path: "/v1/subscriptions/" + id},
		{method: "PATCH", path: "/v1/subscriptions/" + id, body: `{"status":"paused"}`},
		{method: "PATCH", path: "/v1/subscriptions/" + id, body: `{"types":["city.transit.*"]}`},
		{method: "DELETE", path: "/v1/subscriptions/" + id},
		{method: "POST", path: "/v1/subscriptions/" + id + "/secret-rotations"},
		{method: "GET", path: "/v1/subscriptions/" + id + "/dead-letters"},
		{method: "POST", path: "/v1/subscriptions/" + id + "/replays", body: `{"from_time":"` + time.Now().Add(-time.Hour).Format(time.RFC3339) + `"}`},
		{method: "GET", path: "/v1/subscriptions/sub_notanid"},
	} {
		c.org = transport
		a := f.do(c)
		if a.status != 404 || a.code() != "subscription_not_found" || bytes.Contains(a.body, []byte("hooks.police")) {
			t.Errorf("%s %s by another organisation: %d %s", c.method, c.path, a.status, a.body)
		}
	}
	list := f.do(call{method: "GET", path: "/v1/subscriptions", org: transport})
	if items, _ := list.json["items"].([]any); list.status != 200 || len(items) != 0 {
		t.Errorf("another organisation's list: %s", list.body)
	}
	after, err := f.store.Get(t.Context(), id)
	if err != nil || after.Status != StatusActive || after.Version != 1 || len(after.Secrets) != 1 {
		t.Errorf("changed by another organisation: %+v, %v", after, err)
	}

	for _, tc := range []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"no token", call{anonymous: true}, 401, "unauthorized"},
		{"wrong scope", call{org: police, scope: "certs:read"}, 403, "forbidden"},
		{"no organisation", call{}, 403, "organisation_required"},
	} {
		tc.c.method, tc.c.path = "GET", "/v1/subscriptions/"+id
		if a := f.do(tc.c); a.status != tc.status || a.code() != tc.code || bytes.Contains(a.body, []byte("hooks.police")) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}
}

func TestTypesOutsideThePurposeAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	for _, tc := range []struct {
		org   string
		types string
		want  int
	}{
		{transport, `["city.holder.enrolled.v1"]`, 403},
		{police, `["city.holder.*"]`, 403},
		{police, `["city.*"]`, 403},
		{police, `["city.holder.enrolled.v1","city.medical.*"]`, 403},
		{"tax-office-unknown", `["city.holder.enrolled.v1"]`, 403},
		{police, `["city.holder.enrolled.v1","city.lodging.*"]`, 201},
		{welfare, `["city.holder.*","city.medical.settlement.completed.v1"]`, 201},
		{transport, `["city.transit.*"]`, 201},
	} {
		a := f.do(call{method: "POST", path: "/v1/subscriptions", org: tc.org,
			body: `{"endpoint":"https://hooks.example/in","types":` + tc.types + `}`})
		if a.status != tc.want || (tc.want == 403 && a.code() != "event_type_not_allowed") {
			t.Errorf("%s %s: %d %s, want %d", tc.org, tc.types, a.status, a.body, tc.want)
		}
	}
	id := f.create(transport, "city.transit.*").id()
	a := f.do(call{method: "PATCH", path: "/v1/subscriptions/" + id, org: transport, body: `{"types":["city.holder.enrolled.v1"]}`})
	if a.status != 403 || a.code() != "event_type_not_allowed" {
		t.Errorf("patch to a type outside the purpose: %d %s", a.status, a.body)
	}
	if sub, _ := f.store.Get(t.Context(), id); !cmp.Equal(sub.Types, []string{"city.transit.*"}) {
		t.Errorf("types changed to %v", sub.Types)
	}
}

func TestBadInputIsA4xxProblem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	id := f.create(police, enrolled).id()
	sub := "/v1/subscriptions/" + id
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"http endpoint", "POST", "/v1/subscriptions", `{"endpoint":"http://hooks.example/in","types":["city.holder.enrolled.v1"]}`, 422, "validation_failed"},
		{"loopback endpoint", "POST", "/v1/subscriptions", `{"endpoint":"http://127.0.0.1:9000/in","types":["city.holder.enrolled.v1"]}`, 422, "validation_failed"},
		{"metadata endpoint", "POST", "/v1/subscriptions", `{"endpoint":"https://169.254.169.254/","types":["city.holder.enrolled.v1"]}`, 422, "validation_failed"},
		{"no endpoint", "POST", "/v1/subscriptions", `{"types":["city.holder.enrolled.v1"]}`, 422, "validation_failed"},
		{"no types", "POST", "/v1/subscriptions", `{"endpoint":"https://hooks.example/in"}`, 422, "validation_failed"},
		{"bad type", "POST", "/v1/subscriptions", `{"endpoint":"https://hooks.example/in","types":["holder.enrolled"]}`, 422, "validation_failed"},
		{"unknown field", "POST", "/v1/subscriptions", `{"endpoint":"https://hooks.example/in","types":["city.holder.enrolled.v1"],"secret":"mine"}`, 400, "unknown_field"},
		{"malformed", "POST", "/v1/subscriptions", `{"endpoint":`, 400, "invalid_json"},
		{"empty patch", "PATCH", sub, `{}`, 422, "validation_failed"},
		{"patch to disabled", "PATCH", sub, `{"status":"disabled"}`, 422, "validation_failed"},
		{"patch empty types", "PATCH", sub, `{"types":[]}`, 422, "validation_failed"},
		{"bad limit", "GET", "/v1/subscriptions?limit=500", "", 400, "invalid_query"},
		{"forged cursor", "GET", "/v1/subscriptions?cursor=REVBRCMx", "", 400, "invalid_query"},
		{"forged dead-letter cursor", "GET", sub + "/dead-letters?cursor=U1VC", "", 400, "invalid_query"},
		{"replay without a point", "POST", sub + "/replays", `{}`, 422, "validation_failed"},
		{"replay with both", "POST", sub + "/replays", `{"from_time":"2026-11-22T08:00:00Z","after_event_id":"0199a8f0-0000-7000-8000-000000000001"}`, 422, "validation_failed"},
		{"replay from the future", "POST", sub + "/replays", `{"from_time":"` + time.Now().Add(time.Hour).Format(time.RFC3339) + `"}`, 422, "validation_failed"},
		{"replay before retention", "POST", sub + "/replays", `{"from_time":"` + time.Now().Add(-31*24*time.Hour).Format(time.RFC3339) + `"}`, 422, "validation_failed"},
		{"replay from a bad time", "POST", sub + "/replays", `{"from_time":"yesterday"}`, 422, "validation_failed"},
		{"replay after a non-id", "POST", sub + "/replays", `{"after_event_id":"x"}`, 422, "validation_failed"},
	} {
		a := f.do(call{method: tc.method, path: tc.path, org: police, body: tc.body})
		if a.status != tc.status || a.code() != tc.code || a.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}
}

func TestLoopbackEndpointsWhenAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{insecure: true})
	a := f.do(call{method: "POST", path: "/v1/subscriptions", org: police, body: `{"endpoint":"http://127.0.0.1:9000/in","types":["city.holder.enrolled.v1"]}`})
	if a.status != 201 {
		t.Errorf("local receiver with ALLOW_INSECURE_WEBHOOKS: %d %s", a.status, a.body)
	}
	a = f.do(call{method: "POST", path: "/v1/subscriptions", org: police, body: `{"endpoint":"http://hooks.example/in","types":["city.holder.enrolled.v1"]}`})
	if a.status != 422 {
		t.Errorf("remote http endpoint with ALLOW_INSECURE_WEBHOOKS: %d %s", a.status, a.body)
	}
}

func TestDeadLettersAreListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	id := f.create(police, enrolled).id()
	t0 := time.Now().UTC().Add(-time.Hour)
	older, newer := envelope("0199a8f0-0000-7000-8000-000000000001", t0), envelope("0199a8f0-0000-7000-8000-000000000002", t0.Add(time.Minute))
	if err := f.store.AddDeadLetter(t.Context(), id, older, 8, 0, "timed out after 10s"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AddDeadLetter(t.Context(), id, newer, 8, 503, "endpoint answered 503"); err != nil {
		t.Fatal(err)
	}
	a := f.do(call{method: "GET", path: "/v1/subscriptions/" + id + "/dead-letters?limit=1", org: police})
	if a.status != 200 {
		t.Fatalf("dead letters: %d %s", a.status, a.body)
	}
	items := a.json["items"].([]any)
	first := items[0].(map[string]any)
	if len(items) != 1 || first["event_id"] != newer.ID || first["event_type"] != enrolled || first["attempts"] != 8.0 ||
		first["last_status"] != 503.0 || first["last_error"] != "endpoint answered 503" {
		t.Errorf("first page: %s", a.body)
	}
	if ev := first["event"].(map[string]any); ev["id"] != newer.ID || ev["sequence"] != newer.Sequence || ev["subject"] != newer.Subject {
		t.Errorf("dead letter's event: %v", ev)
	}
	a = f.do(call{method: "GET", path: "/v1/subscriptions/" + id + "/dead-letters?limit=1&cursor=" + a.json["next_cursor"].(string), org: police})
	items = a.json["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["event_id"] != older.ID {
		t.Errorf("second page: %s", a.body)
	}
	if _, ok := items[0].(map[string]any)["last_status"]; ok {
		t.Errorf("a dead letter without an HTTP status shows one: %s", a.body)
	}
}

func envelope(id string, at time.Time) outbox.Envelope {
	return outbox.Envelope{SpecVersion: "1.0", ID: id, Source: "/citycode/holders", Type: enrolled, Subject: "hdr_x",
		Time: at.UTC(), DataContentType: "application/json", Sequence: "00000000000000000001",
		Data: json.RawMessage(`{"holder_id":"hdr_x","kind":"resident","document_type":"passport","nationality":"FRA","enrolled_at":"2026-11-22T08:00:00Z"}`)}
}

func TestReplayEnqueuesItsFirstStep(t *testing.T) {
	t.Parallel()
	moto := mototest.StartMoto(t)
	q := sqs.NewFromConfig(mototest.Config(moto))
	out, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("delivery-retry")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(out.QueueUrl)
	f := newFixture(t, options{queueURL: queueURL, sqsEndpoint: moto})
	id := f.create(police, enrolled).id()

	// An event in the outbox, to replay after.
	ob := outbox.New(f.db.Client, f.db.Tables["EventsTable"], outbox.DefaultRetention)
	writes, err := ob.Writes(t.Context(), outbox.Event{Type: enrolled, Source: "/citycode/holders", Subject: "hdr_replay",
		Data: map[string]string{"holder_id": "hdr_replay"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Client.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: writes}); err != nil {
		t.Fatal(err)
	}
	eventID := ""
	for _, w := range writes {
		if w.Put == nil {
			continue
		}
		if pk, ok := w.Put.Item["pk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "EVENT#") {
			eventID = strings.TrimPrefix(pk.Value, "EVENT#")
		}
	}
	afterEvent, err := ob.After(t.Context(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)

	for _, tc := range []struct {
		body string
		want outbox.Position
	}{
		{`{"after_event_id":"` + eventID + `"}`, afterEvent},
		{`{"from_time":"` + from.Format(time.RFC3339) + `"}`, outbox.At(from)},
	} {
		a := f.do(call{method: "POST", path: "/v1/subscriptions/" + id + "/replays", org: police, body: tc.body})
		if a.status != http.StatusAccepted || a.json["subscription_id"] != id {
			t.Fatalf("replay %s: %d %s", tc.body, a.status, a.body)
		}
		msgs, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) != 1 {
			t.Fatalf("replay %s: %d messages on the retry queue, want 1", tc.body, len(msgs.Messages))
		}
		var step map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &step); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"kind": "replay", "subscription_id": id, "replay_id": a.json["replay_id"], "position": string(tc.want)}
		if diff := cmp.Diff(want, step); diff != "" {
			t.Errorf("replay step (-want +got):\n%s", diff)
		}
		if _, err := q.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msgs.Messages[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}

	a := f.do(call{method: "POST", path: "/v1/subscriptions/" + id + "/replays", org: police, body: `{"after_event_id":"0199a8f0-0000-7000-8000-00000000dead"}`})
	if errs, _ := a.json["errors"].([]any); a.status != 422 || len(errs) != 1 || errs[0].(map[string]any)["code"] != "unknown_event" {
		t.Errorf("replay after an unknown event: %d %s", a.status, a.body)
	}
	f.do(call{method: "PATCH", path: "/v1/subscriptions/" + id, org: police, body: `{"status":"paused"}`})
	if a = f.do(call{method: "POST", path: "/v1/subscriptions/" + id + "/replays", org: police, body: `{"from_time":"` + from.Format(time.RFC3339) + `"}`}); a.status != 409 || a.code() != "subscription_not_active" {
		t.Errorf("replay of a paused subscription: %d %s", a.status, a.body)
	}
	msgs, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 0 {
		t.Errorf("refused replays enqueued %d steps", len(msgs.Messages))
	}
}

// TestSampleEvents invokes the function with each of events/subscriptions
// (those of `sam local invoke` and the bootstrap test): the samples name a
// subscription that does not exist, so all but create and list answer 404.
func TestSampleEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "subscriptions", "*.json"))
	if err != nil || len(files) != 8 {
		t.Fatalf("%d sample events, want one per route (8): %v", len(files), err)
	}
	want := map[string]int{"create_subscription.json": 201, "list_subscriptions.json": 200}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		resp, err := f.h(t.Context(), ev)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		status := want[filepath.Base(file)]
		if status == 0 {
			status = 404
		}
		if resp.StatusCode != status {
			t.Errorf("%s: %d %s, want %d", file, resp.StatusCode, resp.Body, status)
		}
		header := http.Header{}
		for k, v := range resp.Headers {
			header.Set(k, v)
		}
		f.check(call{method: ev.RequestContext.HTTP.Method, path: ev.RawPath, body: ev.Body}, ev.Headers, answer{status: resp.StatusCode, header: header, body: []byte(resp.Body)})
	}
}
