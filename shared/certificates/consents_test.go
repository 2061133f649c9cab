package certificates_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
)

// grant asks for an app consent with key; it answers the response.
func (w *world) grant(resident, key, body string) apitest.Response {
	w.t.Helper()
	h := map[string]string{}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return w.api.Do(apitest.Request{Method: "POST", Path: "/v1/consents", Token: resident, Header: h, Body: body})
}

// consentStatuses lists the resident's consents as id → source/status,
// newest first, paging one at a time.
func (w *world) consentStatuses(resident string) []string {
	w.t.Helper()
	var out []string
	cursor := ""
	for range 10 {
		path := "/v1/consents?limit=1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := w.api.Do(apitest.Request{Method: "GET", Path: path, Token: resident})
		if r.Status != http.StatusOK {
			w.t.Fatalf("consents: %d %s", r.Status, r.Body)
		}
		for _, it := range r.JSON["items"].([]any) {
			c := it.(map[string]any)
			out = append(out, fmt.Sprintf("%s %s/%s", c["consent_id"], c["source"], c["status"]))
		}
		next, _ := r.JSON["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = next
	}
	w.t.Fatal("consents: more pages than consents")
	return nil
}

func TestAppConsentsAreHonouredListedAndWithdrawn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, aliceID := w.enroll("consent-alice", 7)
	bob, _ := w.enroll("consent-bob", 8)
	licence := w.issue(w.police, "driving_licence", aliceID, licenceFields(7))["certificate_id"].(string)

	const body = `{"organisation":"government-window-demo","purpose":"government","categories":["driving_licence"],"ttl_seconds":600}`
	r := w.grant(alice, "app-consent-1", body)
	if r.Status != http.StatusCreated || r.JSON["source"] != "app" || r.JSON["status"] != "active" || r.JSON["holder_id"] != aliceID {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	app := r.JSON["consent_id"].(string)
	if again := w.grant(alice, "app-consent-1", body); again.Status != http.StatusCreated || again.JSON["consent_id"] != app {
		t.Errorf("retried grant: %d %s", again.Status, again.Body)
	}
	window := w.consent(alice, "driving_licence")

	lookup := func(consent string) apitest.Response {
		return w.lookup(w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","certificate_id":%q}`, consent, licence))
	}
	if r := lookup(app); r.Status != http.StatusOK {
		t.Errorf("lookup with the app consent: %d %s", r.Status, r.Body)
	}
	want := []string{window + " window/active", app + " app/active"}
	if diff := cmp.Diff(want, w.consentStatuses(alice)); diff != "" {
		t.Errorf("consents (-want +got):\n%s", diff)
	}

	// Only the holder may withdraw; withdrawing is idempotent, and a
	// withdrawn consent, app or window, opens nothing.
	del := func(token, id string) apitest.Response {
		return w.api.Do(apitest.Request{Method: "DELETE", Path: "/v1/consents/" + id, Token: token})
	}
	if r := del(bob, app); r.Status != http.StatusNotFound || r.Code() != "consent_not_found" {
		t.Errorf("Bob withdraws Alice's consent: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{app, app, window} {
		if r := del(alice, id); r.Status != http.StatusNoContent {
			t.Errorf("withdraw %s: %d %s", id, r.Status, r.Body)
		}
	}
	for _, id := range []string{app, window} {
		if r := lookup(id); r.Status != http.StatusForbidden || r.Code() != "consent_required" {
			t.Errorf("lookup with withdrawn %s: %d %s", id, r.Status, r.Body)
		}
	}
	want = []string{window + " window/withdrawn", app + " app/withdrawn"}
	if diff := cmp.Diff(want, w.consentStatuses(alice)); diff != "" {
		t.Errorf("consents after withdrawal (-want +got):\n%s", diff)
	}
	if got := w.consentStatuses(bob); len(got) != 0 {
		t.Errorf("Bob's consents: %v", got)
	}

	const gov, what = "government-window-demo", "driving_licence"
	released := make([]string, len(governmentLicenceFields))
	for i, f := range governmentLicenceFields {
		released[i] = what + "." + f
	}
	wantLog := []logEntry{
		{gov, "government", "consent_granted", "", what}, // app
		{gov, "government", "released", "", "name,document_type,document_number,date_of_birth,nationality"},
		{gov, "government", "consent_granted", "", what}, // window
		{gov, "government", "released", "", strings.Join(released, ",")},
		{gov, "government", "consent_withdrawn", "", what},
		{gov, "government", "consent_withdrawn", "", what},
		{gov, "government", "refused", "consent_required", what},
		{gov, "government", "refused", "consent_required", what},
	}
	if diff := cmp.Diff(wantLog, w.accessLog(alice)); diff != "" {
		t.Errorf("Alice's access log (-want +got):\n%s", diff)
	}
}

func TestAppConsentRequestsAreChecked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, _ := w.enroll("consent-checks-alice", 9)
	for _, tc := range []struct {
		name, key, body string
		status          int
		code, field     string
	}{
		{"no key", "", `{"organisation":"hotel-demo","purpose":"hotel","categories":["resident_id_card"]}`, 400, "idempotency_key_required", ""},
		{"unknown organisation", "k2", `{"organisation":"nobody-demo","purpose":"hotel","categories":["resident_id_card"]}`, 404, "organisation_not_found", ""},
		{"purpose not the organisation's", "k3", `{"organisation":"hotel-demo","purpose":"government","categories":["resident_id_card"]}`, 422, "validation_failed", "purpose"},
		{"unknown category", "k4", `{"organisation":"hotel-demo","purpose":"hotel","categories":["no_such_category"]}`, 422, "validation_failed", "categories.0"},
		{"category releasing nothing", "k5", `{"organisation":"hotel-demo","purpose":"hotel","categories":["birth_certificate"]}`, 422, "validation_failed", "categories.0"},
		{"no category", "k6", `{"organisation":"hotel-demo","purpose":"hotel","categories":[]}`, 422, "validation_failed", "categories"},
		{"twice", "k7", `{"organisation":"hotel-demo","purpose":"hotel","categories":["resident_id_card","resident_id_card"]}`, 422, "validation_failed", "categories.1"},
		{"too short", "k8", `{"organisation":"hotel-demo","purpose":"hotel","categories":["resident_id_card"],"ttl_seconds":59}`, 422, "validation_failed", "ttl_seconds"},
		{"too long", "k9", `{"organisation":"hotel-demo","purpose":"hotel","categories":["resident_id_card"],"ttl_seconds":2592001}`, 422, "validation_failed", "ttl_seconds"},
		{"not a dependant", "k10", `{"organisation":"hotel-demo","purpose":"hotel","categories":["resident_id_card"],"holder_id":"hdr_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`, 404, "dependant_not_found", ""},
	} {
		r := w.grant(alice, tc.key, tc.body)
		var field string
		if errs, _ := r.JSON["errors"].([]any); len(errs) == 1 {
			field, _ = errs[0].(map[string]any)["field"].(string)
		}
		if r.Status != tc.status || r.Code() != tc.code || field != tc.field {
			t.Errorf("%s: %d %s, want %d %s %s", tc.name, r.Status, r.Body, tc.status, tc.code, tc.field)
		}
	}
	if r := w.api.Do(apitest.Request{Method: "DELETE", Path: "/v1/consents/cns_nosuchconsentnosuchconsent", Token: alice}); r.Code() != "consent_not_found" {
		t.Errorf("unknown consent: %d %s", r.Status, r.Body)
	}
}
