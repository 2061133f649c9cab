package certificates_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
)

// example answers the first example of category's fields (the categories
// file's), as a certificate's fields.
func (w *world) example(category string) string {
	w.t.Helper()
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificate-categories/" + category})
	if r.Status != http.StatusOK {
		w.t.Fatalf("category %s: %d %s", category, r.Status, r.Body)
	}
	b, err := json.Marshal(r.JSON["fields"].(map[string]any)["examples"].([]any)[0])
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// issuerList pages through GET /v1/certificates with query (and limit) as
// token's organisation, and answers the items' ids and statuses in order.
func (w *world) issuerList(token, query string) (ids, statuses []string) {
	w.t.Helper()
	cursor := ""
	for page := 0; ; page++ {
		if page == 10 {
			w.t.Fatal("more than 10 pages")
		}
		q, _ := url.ParseQuery(query)
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates?" + q.Encode(), Token: token})
		if r.Status != http.StatusOK {
			w.t.Fatalf("list %s: %d %s", query, r.Status, r.Body)
		}
		if limit, _ := strconv.Atoi(q.Get("limit")); len(r.JSON["items"].([]any)) > limit {
			w.t.Errorf("page of %d items, over the limit %d", len(r.JSON["items"].([]any)), limit)
		}
		for _, it := range r.JSON["items"].([]any) {
			c := it.(map[string]any)
			if c["fields"] != nil {
				w.t.Errorf("the issuer's list answered fields: %v", c)
			}
			ids, statuses = append(ids, c["certificate_id"].(string)), append(statuses, c["status"].(string))
		}
		if cursor, _ = r.JSON["next_cursor"].(string); cursor == "" {
			return ids, statuses
		}
	}
}

// TestIssuerListsItsOwnNewestFirstWithCurrentStatus: an agency lists what
// it issued, newest first, page by page, narrowed by category, with the
// status as it is now; another agency's certificates and cursors stay
// out.
func TestIssuerListsItsOwnNewestFirstWithCurrentStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	library := w.token("library-demo-certs", "certs:issue", "library-demo")
	var holderIDs []string
	for n := range 3 {
		_, id := w.enroll("issuer-list-"+string(rune('a'+n)), 30+n)
		holderIDs = append(holderIDs, id)
	}
	// Oldest first: three licences, an ID card, and the library's card.
	var licences []string
	for n, id := range holderIDs {
		licences = append(licences, w.issue(w.police, "driving_licence", id, licenceFields(30+n))["certificate_id"].(string))
	}
	idCard := w.issue(w.police, "resident_id_card", holderIDs[0], w.example("resident_id_card"))["certificate_id"].(string)
	libraryCard := w.issue(library, "library_card", holderIDs[0], w.example("library_card"))["certificate_id"].(string)
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/" + licences[1] + "/suspensions", Token: w.police,
		Header: map[string]string{"Idempotency-Key": "suspend-" + licences[1]}, Body: `{"reason":"court_order"}`}); r.Status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}

	for _, tc := range []struct {
		name, token, query string
		ids, statuses      []string
	}{
		{"everything, two a page", w.police, "limit=2",
			[]string{idCard, licences[2], licences[1], licences[0]}, []string{"active", "active", "suspended", "active"}},
		{"one category, one a page", w.police, "category=driving_licence&limit=1",
			[]string{licences[2], licences[1], licences[0]}, []string{"active", "suspended", "active"}},
		{"a category with none", w.police, "category=passport_record&limit=20", nil, nil},
		{"another agency", library, "limit=20", []string{libraryCard}, []string{"active"}},
	} {
		ids, statuses := w.issuerList(tc.token, tc.query)
		if diff := cmp.Diff(tc.ids, ids); diff != "" {
			t.Errorf("%s: ids (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(tc.statuses, statuses); diff != "" {
			t.Errorf("%s: statuses (-want +got):\n%s", tc.name, diff)
		}
	}

	first := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates?limit=1", Token: w.police})
	policeCursor, _ := first.JSON["next_cursor"].(string)
	if policeCursor == "" {
		t.Fatalf("first page: %s", first.Body)
	}
	resident := w.api.Token("issuer-list-a", "resident")
	for _, tc := range []struct {
		name, token, query, code string
		status                   int
	}{
		{"the police's cursor at the library", library, "cursor=" + policeCursor, "invalid_query", http.StatusBadRequest},
		{"a made-up cursor", w.police, "cursor=bm90LWEtY3Vyc29y", "invalid_query", http.StatusBadRequest},
		{"not base64url", w.police, "cursor=%25%25", "invalid_query", http.StatusBadRequest},
		{"a bad category", w.police, "category=Driving-Licence", "invalid_query", http.StatusBadRequest},
		{"a resident", resident, "", "forbidden", http.StatusForbidden},
	} {
		r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates?" + tc.query, Token: tc.token})
		if r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.Status, r.Code(), tc.status, tc.code)
		}
	}
}
