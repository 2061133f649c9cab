package holders_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/holders"
)

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

func enrollment(n int) string {
	return fmt.Sprintf(`{"name":"居民%d","document_type":"resident_id","document_number":%q,"date_of_birth":"1985-06-12","nationality":"CHN"}`,
		n, residentID(fmt.Sprintf("31010119850612%03d", n)))
}

func childBody(n int) string {
	return fmt.Sprintf(`{"name":"孩子%d","document_type":"resident_id","document_number":%q,"date_of_birth":"2016-02-03","nationality":"CHN","relationship":"child"}`,
		n, residentID(fmt.Sprintf("31010120160203%03d", n)))
}

// enroll makes sub a holder and returns its token and holder id.
func enroll(t *testing.T, api *apitest.API, sub string, n int) (string, string) {
	t.Helper()
	tok := api.Token(sub, "resident")
	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: enrollment(n)})
	if r.Status != http.StatusCreated {
		t.Fatalf("enroll %s: %d %s", sub, r.Status, r.Body)
	}
	return tok, r.JSON["holder_id"].(string)
}

func TestTokensAndScopes(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "unauthorized"},
		{"garbage token", "not.a.jwt", 401, "unauthorized"},
		{"wrong scope", api.Token("gate-1", "scan:transit"), 403, "forbidden"},
		{"resident", api.Token("nobody", "resident"), 404, "not_enrolled"},
	} {
		r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me", Token: tc.token})
		if r.Status != tc.status || r.Code() != tc.code || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: got %d %q %q, want %d %q problem+json", tc.name, r.Status, r.Code(), r.Header.Get("Content-Type"), tc.status, tc.code)
		}
	}
}

func TestBadInputIsA4xxProblem(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	tok, _ := enroll(t, api, "bad-input", 1)
	for _, tc := range []struct {
		name, method, path, body, contentType string
		header                                map[string]string
		status                                int
		code                                  string
	}{
		{"malformed JSON", "POST", "/v1/holders/me/dependants", `{"name":`, "", nil, 400, "invalid_json"},
		{"unknown field", "POST", "/v1/holders/me/dependants", strings.Replace(childBody(1), `{`, `{"admin":true,`, 1), "", nil, 400, "unknown_field"},
		{"wrong type", "POST", "/v1/holders/me/account/top-ups", `{"amount_fen":"100"}`, "", map[string]string{"Idempotency-Key": "wt"}, 400, "invalid_json"},
		{"fractional money", "POST", "/v1/holders/me/account/top-ups", `{"amount_fen":1.5}`, "", map[string]string{"Idempotency-Key": "fm"}, 400, "invalid_json"},
		{"2 MB body", "POST", "/v1/holders/me/dependants", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, "", nil, 413, "body_too_large"},
		{"not JSON", "POST", "/v1/holders/me/dependants", `name=x`, "application/x-www-form-urlencoded", nil, 415, "unsupported_media_type"},
		{"invalid fields", "POST", "/v1/holders/me/dependants", `{"name":"","document_type":"resident_id","document_number":"123","date_of_birth":"2016-13-01","nationality":"CHN","relationship":"cousin"}`, "", nil, 422, "validation_failed"},
		{"negative top-up", "POST", "/v1/holders/me/account/top-ups", `{"amount_fen":-5}`, "", map[string]string{"Idempotency-Key": "neg"}, 422, "validation_failed"},
		{"top-up without key", "POST", "/v1/holders/me/account/top-ups", `{"amount_fen":5}`, "", nil, 400, "idempotency_key_required"},
		{"bad limit", "GET", "/v1/holders/me/account/entries?limit=0", "", "", nil, 400, "invalid_query"},
		{"forged cursor", "GET", "/v1/holders/me/access-log?cursor=UFJPRklMRQ", "", "", nil, 400, "invalid_query"},
		{"empty patch", "PATCH", "/v1/holders/me/dependants/hdr_x", `{}`, "", nil, 422, "validation_failed"},
	} {
		r := api.Do(apitest.Request{Method: tc.method, Path: tc.path, Token: tok, Body: tc.body, ContentType: tc.contentType, Header: tc.header})
		if r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("%s: got %d %q, want %d %q: %.200s", tc.name, r.Status, r.Code(), tc.status, tc.code, r.Body)
		}
	}
	// Nothing was written by any of them.
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/dependants", Token: tok}); len(r.JSON["items"].([]any)) != 0 {
		t.Errorf("refused requests left dependants: %s", r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account", Token: tok}); r.JSON["balance_fen"] != 0.0 {
		t.Errorf("refused requests moved money: %s", r.Body)
	}
}

func TestEnrollOnceWithIdempotencyKey(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	tok := api.Token("retrying-resident", "resident")
	req := apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: enrollment(2), Header: map[string]string{"Idempotency-Key": "enroll-1"}}
	first, again := api.Do(req), api.Do(req)
	if first.Status != 201 || again.Status != 201 || first.JSON["holder_id"] != again.JSON["holder_id"] {
		t.Fatalf("first %d %s, retry %d %s", first.Status, first.Body, again.Status, again.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry not marked as replayed")
	}
	req.Header = nil
	if r := api.Do(req); r.Status != 409 || r.Code() != "already_enrolled" {
		t.Errorf("enrolling again without the key: %d %s", r.Status, r.Body)
	}
	other := api.Token("someone-else", "resident")
	if r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: other, Body: enrollment(2)}); r.Status != 409 || r.Code() != "document_already_enrolled" {
		t.Errorf("another login with the same document: %d %s", r.Status, r.Body)
	}
	me := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me", Token: tok})
	if me.JSON["holder_id"] != first.JSON["holder_id"] || me.JSON["document_number_masked"] != "3101**********"+residentID("31010119850612002")[14:] {
		t.Errorf("profile: %s", me.Body)
	}
	if strings.Contains(string(me.Body), residentID("31010119850612002")) {
		t.Errorf("profile shows the full document number")
	}
}

func TestTwentyConcurrentTopUps(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	tok, _ := enroll(t, api, "topper", 3)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := apitest.Request{Method: "POST", Path: "/v1/holders/me/account/top-ups", Token: tok,
				Body: fmt.Sprintf(`{"amount_fen":%d}`, 100+i), Header: map[string]string{"Idempotency-Key": fmt.Sprintf("t-%d", i)}}
			for range 2 { // every top-up is also retried once
				if r := api.Do(req); r.Status != 201 {
					t.Errorf("top-up %d: %d %s", i, r.Status, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	want := 0
	for i := range 20 {
		want += 100 + i
	}
	acct := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account", Token: tok})
	if acct.JSON["balance_fen"] != float64(want) {
		t.Errorf("balance %v, want %d", acct.JSON["balance_fen"], want)
	}
	entries := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account/entries?limit=100", Token: tok})
	if n := len(entries.JSON["items"].([]any)); n != 20 {
		t.Errorf("%d ledger entries, want 20", n)
	}
}

func TestGuardianManagesDependantOthersCannot(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	guardian, _ := enroll(t, api, "guardian", 4)
	stranger, _ := enroll(t, api, "stranger", 5)
	created := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/dependants", Token: guardian, Body: childBody(1)})
	if created.Status != 201 {
		t.Fatalf("add dependant: %d %s", created.Status, created.Body)
	}
	dep := created.JSON["holder_id"].(string)
	path := "/v1/holders/me/dependants/" + dep

	if r := api.Do(apitest.Request{Method: "PATCH", Path: path, Token: guardian, Body: `{"name":"王乐"}`}); r.Status != 200 || r.JSON["name"] != "王乐" {
		t.Errorf("guardian renames: %d %s", r.Status, r.Body)
	}
	topUp := apitest.Request{Method: "POST", Path: "/v1/holders/me/account/top-ups", Token: guardian,
		Body: fmt.Sprintf(`{"amount_fen":300,"holder_id":%q}`, dep), Header: map[string]string{"Idempotency-Key": "dep-1"}}
	if r := api.Do(topUp); r.Status != 201 || r.JSON["holder_id"] != dep {
		t.Errorf("guardian tops up dependant: %d %s", r.Status, r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account?holder_id=" + dep, Token: guardian}); r.JSON["balance_fen"] != 300.0 {
		t.Errorf("dependant's balance: %s", r.Body)
	}

	topUp.Token, topUp.Header = stranger, map[string]string{"Idempotency-Key": "steal-1"}
	for _, r := range []apitest.Response{
		api.Do(apitest.Request{Method: "GET", Path: path, Token: stranger}),
		api.Do(apitest.Request{Method: "PATCH", Path: path, Token: stranger, Body: `{"name":"偷"}`}),
		api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account?holder_id=" + dep, Token: stranger}),
		api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log?holder_id=" + dep, Token: stranger}),
		api.Do(topUp),
	} {
		if r.Status != 404 || r.Code() != "dependant_not_found" || strings.Contains(string(r.Body), "王乐") {
			t.Errorf("stranger got %d %s", r.Status, r.Body)
		}
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: path, Token: guardian}); r.JSON["name"] != "王乐" {
		t.Errorf("stranger's rename stuck: %s", r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/dependants", Token: stranger}); len(r.JSON["items"].([]any)) != 0 {
		t.Errorf("stranger lists dependants: %s", r.Body)
	}
	if r := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log", Token: guardian}); r.Status != 200 {
		t.Errorf("access log: %d %s", r.Status, r.Body)
	}
}
