package idempotency

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/citycode/citycode/shared/dynamotest"
)

// counting is a handler that counts its runs and answers 201 with the count.
type counting struct {
	runs   atomic.Int32
	status int
	delay  time.Duration
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.runs.Add(1)
	time.Sleep(c.delay)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.status)
	fmt.Fprintf(w, `{"run":%d,"key":%q}`, n, KeyFrom(r.Context()))
}

func newStore(t *testing.T) *Store {
	db := dynamotest.New(t)
	return NewStore(db.Client, db.Tables["IdempotencyTable"])
}

// call sends one POST through the Lambda adapter, as API Gateway would.
func call(t *testing.T, h http.Handler, sub, key, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	headers := map[string]string{"content-type": "application/json"}
	if key != "" {
		headers["idempotency-key"] = key
	}
	resp, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/things", RawPath: "/v1/things", Headers: headers, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "POST /v1/things", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/things"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"sub": sub, "scope": "resident"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func code(t *testing.T, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	var p struct{ Code string }
	_ = json.Unmarshal([]byte(resp.Body), &p)
	return p.Code
}

func TestKeyRules(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	h := &counting{status: 201}
	for _, tc := range []struct {
		name, key string
		handler   http.Handler
		status    int
		code      string
	}{
		{"required and missing", "", s.Require(h), 400, "idempotency_key_required"},
		{"optional and missing", "", s.Honour(h), 201, ""},
		{"too long", string(make([]byte, 129)), s.Require(h), 400, "idempotency_key_invalid"},
		{"spaces", "a b", s.Require(h), 400, "idempotency_key_invalid"},
	} {
		resp := call(t, tc.handler, "alice", tc.key, `{}`)
		if resp.StatusCode != tc.status || code(t, resp) != tc.code {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, resp.StatusCode, code(t, resp), tc.status, tc.code)
		}
	}
}

func TestRetryGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	h := &counting{status: 201}
	first := call(t, s.Require(h), "alice", "k1", `{"amount_fen":5}`)
	again := call(t, s.Require(h), "alice", "k1", `{"amount_fen":5}`)
	if first.StatusCode != 201 || again.StatusCode != 201 || again.Body != first.Body {
		t.Fatalf("first %d %s, retry %d %s", first.StatusCode, first.Body, again.StatusCode, again.Body)
	}
	if again.Headers[ReplayedHeader] != "true" || first.Headers[ReplayedHeader] != "" {
		t.Errorf("replay header: first %q, retry %q", first.Headers[ReplayedHeader], again.Headers[ReplayedHeader])
	}
	if other := call(t, s.Require(h), "alice", "k1", `{"amount_fen":6}`); other.StatusCode != 422 || code(t, other) != "idempotency_key_reused" {
		t.Errorf("same key, other body: %d %s", other.StatusCode, other.Body)
	}
	if bob := call(t, s.Require(h), "bob", "k1", `{"amount_fen":5}`); bob.StatusCode != 201 || bob.Body == first.Body {
		t.Errorf("another caller's same key must be independent: %d %s", bob.StatusCode, bob.Body)
	}
	if got := h.runs.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2 (alice once, bob once)", got)
	}
}

func TestConcurrentRetriesRunOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	h := &counting{status: 201, delay: 200 * time.Millisecond}
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- call(t, s.Require(h), "alice", "burst", `{}`).StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 201 && st != 409 {
			t.Errorf("concurrent retry answered %d, want 201 or 409", st)
		}
	}
	if got := h.runs.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
}

func TestServerErrorReleasesTheKey(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	failing := &counting{status: 503}
	if resp := call(t, s.Require(failing), "alice", "k5", `{}`); resp.StatusCode != 503 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	ok := &counting{status: 201}
	if resp := call(t, s.Require(ok), "alice", "k5", `{}`); resp.StatusCode != 201 || ok.runs.Load() != 1 {
		t.Errorf("retry after a 5xx: %d, runs %d; want a fresh run", resp.StatusCode, ok.runs.Load())
	}
}

func TestExpiredLeaseCanBeRetaken(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if _, claimed, err := s.claim(ctx, "idem_x", "fp"); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	if prev, claimed, _ := s.claim(ctx, "idem_x", "fp"); claimed || prev.State != stateRunning {
		t.Fatalf("claim within the lease: claimed=%v state=%q", claimed, prev.State)
	}
	s.now = func() time.Time { return time.Now().Add(time.Minute) }
	if _, claimed, err := s.claim(ctx, "idem_x", "other"); err != nil || claimed {
		t.Errorf("expired lease, other request: claimed=%v %v; want refused", claimed, err)
	}
	if _, claimed, err := s.claim(ctx, "idem_x", "fp"); err != nil || !claimed {
		t.Errorf("expired lease, same request: claimed=%v %v; want retaken", claimed, err)
	}
}
