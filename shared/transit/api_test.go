package transit_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/holders"
)

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

// apiRider enrolls sub through the local API as a resident named name, with
// the resident ID first17 and its check character (born on the date in it),
// and tops its account up by 10 yuan. It returns sub's token, a maker of
// fresh codes for it and a People's Square gate's token.
func apiRider(t *testing.T, api *apitest.API, sub, name, first17 string) (resident string, code func() string, gate string) {
	t.Helper()
	resident = api.Token(sub, "resident")
	dob := first17[6:10] + "-" + first17[10:12] + "-" + first17[12:14]
	if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: resident, Body: fmt.Sprintf(
		`{"name":%q,"document_type":"resident_id","document_number":%q,"date_of_birth":%q,"nationality":"CHN"}`,
		name, residentID(first17), dob)}); r.Status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/account/top-ups", Token: resident, Body: `{"amount_fen":1000}`,
		Header: map[string]string{"Idempotency-Key": sub + "-top-up"}}); r.Status != http.StatusCreated {
		t.Fatalf("top up: %d %s", r.Status, r.Body)
	}
	code = func() string {
		r := api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: resident})
		if r.Status != http.StatusCreated {
			t.Fatalf("code: %d %s", r.Status, r.Body)
		}
		return r.JSON["code"].(string)
	}
	gate, err := api.TokenWithOrg("gate-demo-l1-people-square-01", "scan:transit", "metro-demo")
	if err != nil {
		t.Fatal(err)
	}
	return resident, code, gate
}

// TestGateAndResidentRoutes goes through the local API with real tokens,
// every answer checked against infra/openapi.yaml: a trip tapped online,
// a batch with a retried and a bad tap, then the resident's trips,
// statement and account.
func TestGateAndResidentRoutes(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	resident, code, gate := apiRider(t, api, "transit-resident", "陈静", "31010519910715002")
	tapBody := func(id, gateID, stop, dir, code string) string {
		b, _ := json.Marshal(map[string]string{"tap_id": id, "gate_id": gateID, "stop_id": stop, "direction": dir,
			"at": time.Now().UTC().Format(time.RFC3339), "code": code})
		return string(b)
	}
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

	in := tapBody("api-in", "gate-demo-l1-people-square-01", "peoples_square", "in", code())
	for _, tc := range []struct {
		name, token, body string
		header            map[string]string
		status            int
		code              string
	}{
		{"a resident's token", resident, in, key("k0"), 403, "forbidden"},
		{"no Idempotency-Key", gate, in, nil, 400, "idempotency_key_required"},
		{"a field missing", gate, `{"tap_id":"x","gate_id":"g","stop_id":"s","direction":"in","at":"2026-11-22T08:00:00Z"}`, key("k1"), 422, "validation_failed"},
		{"a bad direction", gate, tapBody("x", "gate-demo-l1-people-square-01", "peoples_square", "sideways", "CC1:X"), key("k2"), 422, "validation_failed"},
		{"an unknown field", gate, `{"tap_id":"x","fare":1}`, key("k3"), 400, "unknown_field"},
	} {
		if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/taps", Token: tc.token, Body: tc.body, Header: tc.header}); r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}

	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/taps", Token: gate, Body: in, Header: key("tap-api-in")})
	if r.Status != 200 || r.JSON["status"] != "accepted" || r.JSON["may_travel"] != true {
		t.Fatalf("tap-in: %d %s", r.Status, r.Body)
	}
	out := tapBody("api-out", "gate-demo-l2-lujiazui-01", "lujiazui", "out", code())
	r = api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/taps", Token: gate, Body: out, Header: key("tap-api-out")})
	trip, _ := r.JSON["trip"].(map[string]any)
	if r.Status != 200 || trip == nil || trip["fare"].(map[string]any)["charged_fen"] != 300.0 {
		t.Fatalf("tap-out: %d %s", r.Status, r.Body)
	}
	if again := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/taps", Token: gate, Body: out, Header: key("tap-api-out")}); again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retry with the key: %d %v", again.Status, again.Header)
	}

	// An offline upload: the tap-out again (a duplicate) and a bad tap.
	batch := `{"taps":[` + out + `,` + tapBody("api-bad", "gate-nowhere", "lujiazui", "in", code()) + `]}`
	r = api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: batch})
	if r.Status != 200 || r.JSON["duplicates"] != 1.0 || r.JSON["refused"] != 1.0 || r.JSON["accepted"] != 0.0 {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	if res := r.JSON["results"].([]any); res[1].(map[string]any)["code"] != "unknown_gate" {
		t.Errorf("batch results: %s", r.Body)
	}
	if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: `{"taps":[]}`}); r.Status != 422 || r.Code() != "validation_failed" {
		t.Errorf("an empty batch: %d %s", r.Status, r.Body)
	}

	month := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")
	r = api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/trips?month=" + month, Token: resident})
	if items, _ := r.JSON["items"].([]any); r.Status != 200 || len(items) != 1 {
		t.Errorf("trips: %d %s", r.Status, r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/trips?month=2026-13", Token: resident}); r.Status != 400 || r.Code() != "invalid_query" {
		t.Errorf("a bad month: %d %s", r.Status, r.Body)
	}
	r = api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/trips/statements/" + month, Token: resident})
	if r.Status != 200 || r.JSON["trips"] != 1.0 || r.JSON["charged_fen"] != 300.0 || r.JSON["metro_fen"] != 300.0 {
		t.Errorf("statement: %d %s", r.Status, r.Body)
	}
	r = api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account", Token: resident})
	if r.Status != 200 || r.JSON["balance_fen"] != 700.0 || r.JSON["debt_fen"] != 0.0 || r.JSON["postpaid_limit_fen"] != 0.0 {
		t.Errorf("account: %d %s", r.Status, r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/trips", Token: api.Token("nobody", "resident")}); r.Status != 404 || r.Code() != "not_enrolled" {
		t.Errorf("someone not enrolled: %d %s", r.Status, r.Body)
	}
}
