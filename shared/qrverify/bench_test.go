package qrverify

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/trust"
)

// memoryStore answers storage from memory, as the benchmark's "storage
// answered in memory" asks: one holder, marks and log entries in maps.
type memoryStore struct {
	mu     sync.Mutex
	holder Holder
	used   map[Use]bool
	log    int
}

func (m *memoryStore) Holder(_ context.Context, id string) (Holder, error) {
	if id != m.holder.ID {
		return Holder{}, ErrNoHolder
	}
	return m.holder, nil
}

func (m *memoryStore) Accept(_ context.Context, use *Use, _ string, entry *AccessEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if use != nil {
		if m.used[*use] {
			return ErrReplayed
		}
		m.used[*use] = true
	}
	if entry != nil {
		m.log++
	}
	return nil
}

// BenchmarkVerifyHandler is the whole verify path as Lambda runs it: a v2
// event in, through aws-lambda-go-api-proxy, routing, JSON, the trust list,
// decoding and verifying, the holder read and the access-log write (in
// memory), and the v2 response out.
func BenchmarkVerifyHandler(b *testing.B) {
	now := time.Now()
	ring, err := trust.Generate("CN-SH", "Shanghai", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	_, list, err := trust.Publish(ring, nil, 1, now, time.Hour, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	h := Holder{ID: "hdr_aaaaaaaaaaaaaaaaaaaaaaaaaa", Name: "张伟", DocumentType: holders.DocResidentID,
		DocumentNumber: "110105199003071239", DateOfBirth: "1990-03-07", Nationality: "CHN", Status: holders.StatusActive, BalanceFen: 500}
	store := &memoryStore{holder: h, used: map[Use]bool{}}
	static := trust.StaticSource{List: list}
	mux := http.NewServeMux()
	NewAPI(NewVerifier(static, store, "CN-SH", 30*time.Second), static).Routes(mux)
	handler, err := lambdahttp.Build(context.Background(), func(context.Context, app.Env) (http.Handler, error) {
		return httpapi.Serve(slog.New(slog.NewJSONHandler(io.Discard, nil)), mux), nil
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := ring.Signer(now)
	ref, _ := holders.Ref(h.ID)
	c := credential.Claims{Issuer: "CN-SH", Subject: ref, IssuedAt: now.Truncate(time.Second), NotBefore: now.Truncate(time.Second), Expires: now.Add(time.Hour).Truncate(time.Second)}
	code, err := credential.Encode(signer, c)
	if err != nil {
		b.Fatal(err)
	}
	// The government window's purpose is not single-use, so one code serves
	// every iteration and still reads the holder and writes the access log.
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/verify", RawPath: "/v1/verify",
		Headers: map[string]string{"content-type": "application/json"},
		Body:    `{"code":"` + code + `","purpose":"government"}`,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "POST /v1/verify", RequestID: "bench", DomainName: "api.citycode.test",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/verify"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"sub": "window-1", "org": "gov-demo", "scope": "scan:government"}}},
		},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := handler(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%d %v %s", resp.StatusCode, err, resp.Body)
		}
	}
}
