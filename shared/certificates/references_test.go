package certificates_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
)

// reference makes a reference to certificate id as resident.
func (w *world) reference(resident, id string) string {
	w.t.Helper()
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/certificates/" + id + "/references", Token: resident})
	if r.Status != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
		w.t.Fatalf("reference: %d %v %s", r.Status, r.Header, r.Body)
	}
	return r.JSON["reference"].(string)
}

// checkRef checks a reference for purpose as token.
func (w *world) checkRef(token, reference, purpose string) apitest.Response {
	w.t.Helper()
	body, _ := json.Marshal(map[string]string{"reference": reference, "purpose": purpose})
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/reference-checks", Token: token, Body: string(body)})
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		w.t.Fatalf("check: %d %v %s", r.Status, r.Header, r.Body)
	}
	return r
}

func reason(r apitest.Response) string { s, _ := r.JSON["reason"].(string); return s }

func TestReferenceChecksOnceAndReleasesOnlyThePurposesFields(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, aliceID := w.enroll("reference-alice", 10)
	bob, _ := w.enroll("reference-bob", 11)
	id := w.issue(w.police, "driving_licence", aliceID, licenceFields(10))["certificate_id"].(string)
	hotel := w.token("hotel-demo-front-desk", "certs:read", "hotel-demo")

	ref := w.reference(alice, id)
	if !strings.HasPrefix(ref, "CR1:") || len(ref) > 221 || strings.Contains(ref, id) {
		t.Errorf("reference %q", ref)
	}
	// Every changed character fails, and writes nothing.
	for i := len("CR1:"); i < len(ref); i++ {
		sub := byte('A')
		if ref[i] == 'A' {
			sub = 'B'
		}
		changed := ref[:i] + string(sub) + ref[i+1:]
		if r := w.checkRef(w.window, changed, "government"); r.JSON["valid"] != false || reason(r) == "" || r.JSON["certificate"] != nil {
			t.Fatalf("character %d changed: %s", i, r.Body)
		}
	}
	// A hotel sees the hotel's fields of the licence, once.
	r := w.checkRef(hotel, ref, "hotel")
	want := map[string]any{"valid": true, "certificate": map[string]any{"certificate_id": id, "category": "driving_licence",
		"issuer_org": "police-demo", "status": "active", "valid_from": r.JSON["certificate"].(map[string]any)["valid_from"],
		"valid_until": r.JSON["certificate"].(map[string]any)["valid_until"]},
		"fields": map[string]any{"name": "居民10", "id_number": residentID("31010119850612010")}}
	if diff := cmp.Diff(want, r.JSON); diff != "" {
		t.Errorf("hotel's check (-want +got):\n%s", diff)
	}
	if r := w.checkRef(w.window, ref, "government"); r.JSON["valid"] != false || reason(r) != "replayed" || r.JSON["fields"] != nil {
		t.Errorf("second check: %s", r.Body)
	}

	// A purpose the caller may not use: the certificate, no fields.
	if r := w.checkRef(hotel, w.reference(alice, id), "government"); reason(r) != "purpose_not_allowed" || r.JSON["certificate"] == nil || r.JSON["fields"] != nil {
		t.Errorf("hotel checks for government: %s", r.Body)
	}
	// A revoked certificate's reference shows it revoked, no fields.
	before := w.reference(alice, id)
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/" + id + "/revocations", Token: w.police,
		Header: map[string]string{"Idempotency-Key": "revoke-ref-" + id}, Body: `{"reason":"fraud"}`}); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, ref := range []string{before, w.reference(alice, id)} {
		r := w.checkRef(w.window, ref, "government")
		cert, _ := r.JSON["certificate"].(map[string]any)
		if r.JSON["valid"] != false || reason(r) != "certificate_revoked" || cert["status"] != "revoked" || r.JSON["fields"] != nil {
			t.Errorf("revoked: %s", r.Body)
		}
	}

	// Only the holder makes references; the PNG is the same symbol.
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/certificates/" + id + "/references", Token: bob}); r.Code() != "certificate_not_found" {
		t.Errorf("Bob's reference to Alice's licence: %d %s", r.Status, r.Body)
	}
	png := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/certificates/" + id + "/references", Token: alice,
		Header: map[string]string{"Accept": "image/png"}})
	if png.Status != http.StatusCreated || png.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(png.Body, []byte("\x89PNG")) ||
		png.Header.Get("Reference-Expires-At") == "" {
		t.Errorf("PNG: %d %v", png.Status, png.Header)
	}

	const gov, hot = "government-window-demo", "hotel-demo"
	wantLog := []logEntry{
		{hot, "hotel", "released", "", "driving_licence.name,driving_licence.id_number"},
		{gov, "government", "refused", "replayed", "driving_licence"},
		{hot, "government", "refused", "purpose_not_allowed", "driving_licence"},
		{gov, "government", "status_only", "certificate_revoked", "driving_licence"},
		{gov, "government", "status_only", "certificate_revoked", "driving_licence"},
	}
	if diff := cmp.Diff(wantLog, w.accessLog(alice)); diff != "" {
		t.Errorf("Alice's access log (-want +got):\n%s", diff)
	}
}
