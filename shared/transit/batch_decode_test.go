package transit_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/apitest"
)

// TestBatchRefusesBadlyTypedTapsOneByOne: taps of a batch that do not
// decode (a number for a string, an unknown field, not an object) are each
// refused invalid_tap, naming the field, in their place among the results;
// the good taps beside them are processed. Only a bad envelope is a 4xx.
func TestBatchRefusesBadlyTypedTapsOneByOne(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	_, code, gate := apiRider(t, api, "transit-batch-decode", "王芳", "31010519880302004")
	now := time.Now().UTC().Format(time.RFC3339)
	// tapJSON is a good tap with edit applied to its fields.
	tapJSON := func(id, gateID, stop, dir string, edit func(map[string]any)) string {
		m := map[string]any{"tap_id": id, "gate_id": gateID, "stop_id": stop, "direction": dir, "at": now, "code": code()}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	const psq, ljz = "gate-demo-l1-people-square-01", "gate-demo-l2-lujiazui-01"

	taps := []string{
		tapJSON("dec-in", psq, "peoples_square", "in", nil),
		tapJSON("dec-bad-at", psq, "peoples_square", "in", func(m map[string]any) { m["at"] = 1700000000 }),
		tapJSON("dec-bad-id", psq, "peoples_square", "in", func(m map[string]any) { m["tap_id"] = 42 }),
		tapJSON("dec-bad-lat", psq, "peoples_square", "in", func(m map[string]any) { m["lat"] = 31.2 }),
		`5`,
		tapJSON("dec-out", ljz, "lujiazui", "out", nil),
	}
	want := []struct{ tapID, status, code, field string }{
		{"dec-in", "accepted", "", ""},
		{"dec-bad-at", "refused", "invalid_tap", "at: must be a string"},
		{"", "refused", "invalid_tap", "tap_id: must be a string"},
		{"dec-bad-lat", "refused", "invalid_tap", "lat: not accepted here"},
		{"", "refused", "invalid_tap", "must be a JSON object"},
		{"dec-out", "accepted", "", ""},
	}
	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: `{"taps":[` + strings.Join(taps, ",") + `]}`})
	if r.Status != http.StatusOK || r.JSON["accepted"] != 2.0 || r.JSON["refused"] != 4.0 || r.JSON["duplicates"] != 0.0 {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	results := r.JSON["results"].([]any)
	if len(results) != len(want) {
		t.Fatalf("%d results; want %d: %s", len(results), len(want), r.Body)
	}
	for i, w := range want {
		got := results[i].(map[string]any)
		code, _ := got["code"].(string)
		detail, _ := got["detail"].(string)
		if got["tap_id"] != w.tapID || got["status"] != w.status || code != w.code || !strings.Contains(detail, w.field) {
			t.Errorf("result %d = %v; want %s %s %s naming %q", i, got, w.tapID, w.status, w.code, w.field)
		}
		if strings.Contains(detail, "json:") || strings.Contains(detail, "Go ") {
			t.Errorf("result %d leaks a Go error: %q", i, detail)
		}
	}
	if trip, _ := results[5].(map[string]any)["trip"].(map[string]any); trip == nil {
		t.Errorf("the tap-out completed no trip: %s", r.Body)
	}

	// A batch of nothing but bad taps is still answered tap by tap.
	r = api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: `{"taps":[null,"x",{"tap_id":"dec-only","at":1}]}`})
	if r.Status != http.StatusOK || r.JSON["refused"] != 3.0 || r.JSON["accepted"] != 0.0 {
		t.Fatalf("all bad: %d %s", r.Status, r.Body)
	}
	if got := r.JSON["results"].([]any)[2].(map[string]any); got["tap_id"] != "dec-only" || got["code"] != "invalid_tap" {
		t.Errorf("all bad, the third: %v", got)
	}

	// The envelope is still strict.
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", `taps`, 400, "invalid_json"},
		{"cut short", `{"taps":[{"tap_id":"x"}`, 400, "invalid_json"},
		{"taps not an array", `{"taps":{"tap_id":"x"}}`, 400, "invalid_json"},
		{"taps a string", `{"taps":"x"}`, 400, "invalid_json"},
		{"an unknown field beside taps", `{"taps":[],"gate":"x"}`, 400, "unknown_field"},
		{"trailing data", `{"taps":[]} {}`, 400, "invalid_json"},
		{"no taps", `{}`, 422, "validation_failed"},
		{"taps null", `{"taps":null}`, 422, "validation_failed"},
		{"more than 500", `{"taps":[` + strings.Repeat(`{},`, 500) + `{}]}`, 422, "validation_failed"},
		{"over the size limit", `{"taps":["` + strings.Repeat("x", 512<<10) + `"]}`, 413, "body_too_large"},
	} {
		if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: tc.body}); r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/transit/tap-batches", Token: gate, Body: `{"taps":[]}`, ContentType: "text/plain"}); r.Status != 415 {
		t.Errorf("not application/json: %d %s", r.Status, r.Body)
	}
}
