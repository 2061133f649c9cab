package certificates_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
	"github.com/citycode/citycode/shared/trust"
)

// world is a running API with the demo's issuing and reading clients.
type world struct {
	t                            *testing.T
	api                          *apitest.API
	police, window, policeReader string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	a := apitest.New(t)
	w := &world{t: t, api: a}
	w.police = w.token("police-demo-certs", "certs:issue", "police-demo")
	w.window = w.token("window-demo-01", "scan:government certs:read", "government-window-demo")
	w.policeReader = w.token("police-demo-events", "certs:read", "police-demo")
	return w
}

func (w *world) token(sub, scopes, org string) string {
	w.t.Helper()
	tok, err := w.api.TokenWithOrg(sub, scopes, org)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

// enroll makes sub a holder; it answers the resident's token and holder id.
func (w *world) enroll(sub string, n int) (string, string) {
	w.t.Helper()
	tok := w.api.Token(sub, "resident")
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: fmt.Sprintf(
		`{"name":"居民%d","document_type":"resident_id","document_number":%q,"date_of_birth":"1985-06-12","nationality":"CHN"}`,
		n, residentID(fmt.Sprintf("31010119850612%03d", n)))})
	if r.Status != http.StatusCreated {
		w.t.Fatalf("enroll %s: %d %s", sub, r.Status, r.Body)
	}
	return tok, r.JSON["holder_id"].(string)
}

// licenceFields are driving licence fields for holder n.
func licenceFields(n int) string {
	return fmt.Sprintf(`{"name":"居民%d","id_number":%q,"sex":"female","date_of_birth":"1985-06-12","nationality":"CHN",`+
		`"licence_number":"3101011985061%05d","licence_class":"C1","first_issued":"2010-05-01","points_remaining":12}`,
		n, residentID(fmt.Sprintf("31010119850612%03d", n)), n)
}

// issue issues a certificate and answers it.
func (w *world) issue(token, category, holderID, fields string) map[string]any {
	w.t.Helper()
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates", Token: token,
		Header: map[string]string{"Idempotency-Key": "issue-" + holderID + "-" + category},
		Body:   fmt.Sprintf(`{"category":%q,"holder_id":%q,"fields":%s}`, category, holderID, fields)})
	if r.Status != http.StatusCreated {
		w.t.Fatalf("issue %s: %d %s", category, r.Status, r.Body)
	}
	return r.JSON
}

// consent has the holder show their code at the government window, asking
// consent for categories; it answers the consent id.
func (w *world) consent(resident string, categories ...string) string {
	w.t.Helper()
	code := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: resident})
	if code.Status != http.StatusCreated {
		w.t.Fatalf("code: %d %s", code.Status, code.Body)
	}
	cats, _ := json.Marshal(categories)
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/verify", Token: w.window,
		Body: fmt.Sprintf(`{"code":%q,"purpose":"government","certificate_categories":%s}`, code.JSON["code"], cats)})
	if r.Status != http.StatusOK || r.JSON["valid"] != true {
		w.t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	c, ok := r.JSON["consent"].(map[string]any)
	if !ok {
		w.t.Fatalf("verify granted no consent: %s", r.Body)
	}
	return c["consent_id"].(string)
}

func (w *world) lookup(token, body string) apitest.Response {
	w.t.Helper()
	return w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/lookups", Token: token, Body: body})
}

// logEntry is an access-log entry reduced to what the tests state.
type logEntry struct{ Organisation, Purpose, Outcome, Reason, What string }

func (w *world) accessLog(resident string) []logEntry {
	w.t.Helper()
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log?limit=100", Token: resident})
	if r.Status != http.StatusOK {
		w.t.Fatalf("access log: %d %s", r.Status, r.Body)
	}
	var out []logEntry
	for _, it := range r.JSON["items"].([]any) {
		e := it.(map[string]any)
		var what []string
		for _, x := range e["what"].([]any) {
			what = append(what, x.(string))
		}
		reason, _ := e["reason"].(string)
		out = append(out, logEntry{Organisation: e["organisation"].(string), Purpose: e["purpose"].(string),
			Outcome: e["outcome"].(string), Reason: reason, What: strings.Join(what, ",")})
	}
	slices.Reverse(out) // oldest first
	return out
}

var governmentLicenceFields = []string{"name", "id_number", "sex", "date_of_birth", "nationality", "licence_number", "licence_class", "first_issued", "points_remaining"}

func TestLookupNeedsFreshConsentAndIsLogged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, aliceID := w.enroll("lookup-alice", 1)
	bob, bobID := w.enroll("lookup-bob", 2)
	aliceLicence := w.issue(w.police, "driving_licence", aliceID, licenceFields(1))["certificate_id"].(string)
	bobLicence := w.issue(w.police, "driving_licence", bobID, licenceFields(2))["certificate_id"].(string)
	consent := w.consent(alice, "driving_licence")

	// With the fresh consent: the government's fields of Alice's licence.
	r := w.lookup(w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","category":"driving_licence"}`, consent))
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("lookup: %d %s %s", r.Status, r.Header.Get("Cache-Control"), r.Body)
	}
	var wantFields map[string]any
	_ = json.Unmarshal([]byte(licenceFields(1)), &wantFields)
	items := r.JSON["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("items: %s", r.Body)
	}
	item := items[0].(map[string]any)
	if item["certificate_id"] != aliceLicence || item["status"] != "active" || item["holder_id"] != nil {
		t.Errorf("item: %v", item)
	}
	if diff := cmp.Diff(wantFields, item["fields"]); diff != "" {
		t.Errorf("released fields (-want +got):\n%s", diff)
	}
	// The same by certificate id.
	if r := w.lookup(w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","certificate_id":%q}`, consent, aliceLicence)); r.Status != http.StatusOK {
		t.Errorf("lookup by id: %d %s", r.Status, r.Body)
	}

	// An expired consent, as the window would have written it 20 minutes ago.
	expired := putConsent(t, w.api, certificates.Consent{ID: "cns_expiredexpiredexpiredexpi", HolderID: aliceID,
		Organisation: "government-window-demo", Purpose: "government", Categories: []string{"driving_licence"}, Source: "window",
		CreatedAt: time.Now().Add(-20 * time.Minute), ValidUntil: time.Now().Add(-5 * time.Minute)})

	for _, tc := range []struct {
		name, token, body, code string
	}{
		{"no consent", w.window, fmt.Sprintf(`{"consent_id":"cns_nosuchconsentnosuchconsent","purpose":"government","certificate_id":%q}`, aliceLicence), "consent_required"},
		{"another organisation's consent", w.policeReader, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","category":"driving_licence"}`, consent), "consent_required"},
		{"expired consent", w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","category":"driving_licence"}`, expired), "consent_expired"},
		{"another purpose", w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"employer","category":"driving_licence"}`, consent), "purpose_mismatch"},
		{"category outside the consent", w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","category":"resident_id_card"}`, consent), "category_not_consented"},
		{"another holder", w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","certificate_id":%q}`, consent, bobLicence), "consent_holder_mismatch"},
	} {
		r := w.lookup(tc.token, tc.body)
		if r.Status != http.StatusForbidden || r.Code() != tc.code {
			t.Errorf("%s: %d %q, want 403 %q", tc.name, r.Status, r.Code(), tc.code)
		}
	}
	// A purpose the catalogue does not declare is refused before anything
	// is logged: a caller cannot write free text into a holder's log.
	if r := w.lookup(w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"curiosity","certificate_id":%q}`, consent, aliceLicence)); r.Status != http.StatusUnprocessableEntity || r.Code() != "validation_failed" {
		t.Errorf("an undeclared purpose: %d %s", r.Status, r.Body)
	}
	// Nobody named: refused, logged to the service log only.
	if r := w.lookup(w.window, `{"consent_id":"cns_nosuchconsentnosuchconsent","purpose":"government","category":"driving_licence"}`); r.Code() != "consent_required" {
		t.Errorf("unknown consent: %d %s", r.Status, r.Body)
	}

	licence := strings.Join(func() []string {
		var out []string
		for _, f := range governmentLicenceFields {
			out = append(out, "driving_licence."+f)
		}
		return out
	}(), ",")
	const window, police = "government-window-demo", "police-demo"
	wantAlice := []logEntry{
		{window, "government", "released", "", "name,document_type,document_number,date_of_birth,nationality"},
		{window, "government", "consent_granted", "", "driving_licence"},
		{window, "government", "released", "", licence},
		{window, "government", "released", "", licence},
		{window, "government", "refused", "consent_required", "driving_licence"},
		{police, "government", "refused", "consent_required", "driving_licence"},
		{window, "government", "refused", "consent_expired", "driving_licence"},
		{window, "employer", "refused", "purpose_mismatch", "driving_licence"},
		{window, "government", "refused", "category_not_consented", "resident_id_card"},
	}
	if diff := cmp.Diff(wantAlice, w.accessLog(alice)); diff != "" {
		t.Errorf("Alice's access log (-want +got):\n%s", diff)
	}
	// The attempt on Bob's licence is in Bob's log, not Alice's.
	wantBob := []logEntry{{window, "government", "refused", "consent_holder_mismatch", "driving_licence"}}
	if diff := cmp.Diff(wantBob, w.accessLog(bob)); diff != "" {
		t.Errorf("Bob's access log (-want +got):\n%s", diff)
	}
}

// putConsent writes a consent item as qr-verify writes window consents.
func putConsent(t *testing.T, a *apitest.API, c certificates.Consent) string {
	t.Helper()
	it, err := attributevalue.MarshalMap(c)
	if err != nil {
		t.Fatal(err)
	}
	it["pk"] = &types.AttributeValueMemberS{Value: "CONSENT#" + c.ID}
	it["sk"] = &types.AttributeValueMemberS{Value: "CONSENT"}
	if _, err := a.DB.Client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(a.DB.Tables["CertificatesTable"]), Item: it}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestRevokedInEveryReadPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, aliceID := w.enroll("revoked-alice", 3)
	id := w.issue(w.police, "driving_licence", aliceID, licenceFields(3))["certificate_id"].(string)

	// One per holder while it lives.
	again := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates", Token: w.police, Header: map[string]string{"Idempotency-Key": "second"},
		Body: fmt.Sprintf(`{"category":"driving_licence","holder_id":%q,"fields":%s}`, aliceID, licenceFields(3))})
	if again.Status != http.StatusConflict || again.Code() != "certificate_exists" {
		t.Errorf("second licence: %d %s", again.Status, again.Body)
	}

	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/" + id + "/revocations", Token: w.police,
		Header: map[string]string{"Idempotency-Key": "revoke-" + id}, Body: `{"reason":"court_order"}`})
	if r.Status != http.StatusOK || r.JSON["status"] != "revoked" || r.JSON["version"] != 2.0 || r.JSON["revoked_at"] == nil {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	consent := w.consent(alice, "driving_licence")

	statuses := map[string]any{}
	statuses["issuer read"] = w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates/" + id, Token: w.police}).JSON["status"]
	statuses["holder read"] = w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates/" + id, Token: alice}).JSON["status"]
	list := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates", Token: alice})
	statuses["holder list"] = list.JSON["items"].([]any)[0].(map[string]any)["status"]
	public := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates/" + id + "/status"})
	if public.Header.Get("Cache-Control") != "no-store" || len(public.JSON) != 3 {
		t.Errorf("public status: %d %v %s", public.Status, public.Header, public.Body)
	}
	statuses["public status"] = public.JSON["status"]
	look := w.lookup(w.window, fmt.Sprintf(`{"consent_id":%q,"purpose":"government","certificate_id":%q}`, consent, id))
	item := look.JSON["items"].([]any)[0].(map[string]any)
	statuses["lookup"] = item["status"]
	if diff := cmp.Diff(map[string]any{}, item["fields"]); diff != "" {
		t.Errorf("a revoked certificate released fields: %s", diff)
	}
	doc := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates/" + id + "/document", Token: alice})
	if doc.Header.Get("Content-Type") != "application/jose" || doc.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("document headers: %v", doc.Header)
	}
	payload, err := certificates.VerifyDocument(string(doc.Body), w.publishedKeys(), w.api.Secrets.Home.Root)
	if err != nil {
		t.Fatalf("document: %v", err)
	}
	statuses["document"] = payload.Certificate.Status
	want := map[string]any{"issuer read": "revoked", "holder read": "revoked", "holder list": "revoked", "lookup": "revoked", "document": "revoked",
		"public status": "revoked"}
	if diff := cmp.Diff(want, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if payload.ID != id+"#v2" || payload.Certificate.StatusReason != "court_order" {
		t.Errorf("document payload: %+v", payload)
	}

	// Each change wrote its event, valid against its schema, without fields.
	var types []string
	for _, e := range outboxtest.Recorded(t, w.api.DB.Client, w.api.DB.Tables["EventsTable"]) {
		if e.Subject == id {
			outboxtest.CheckSchema(t, e)
			types = append(types, e.Type)
			if strings.Contains(string(e.Data), "licence_number") {
				t.Errorf("%s carries fields: %s", e.Type, e.Data)
			}
		}
	}
	if diff := cmp.Diff([]string{"city.certificate.issued.v1", "city.certificate.revoked.v1"}, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// Revoked is final; the lock is gone, so a successor may be issued.
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates/" + id + "/reinstatements", Token: w.police,
		Header: map[string]string{"Idempotency-Key": "reinstate-" + id}}); r.Code() != "invalid_transition" {
		t.Errorf("reinstate a revoked certificate: %d %s", r.Status, r.Body)
	}
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates", Token: w.police, Header: map[string]string{"Idempotency-Key": "successor"},
		Body: fmt.Sprintf(`{"category":"driving_licence","holder_id":%q,"fields":%s}`, aliceID, licenceFields(3))}); r.Status != http.StatusCreated {
		t.Errorf("successor: %d %s", r.Status, r.Body)
	}
}

func (w *world) publishedKeys() []trust.CertifiedKey {
	w.t.Helper()
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificate-keys"})
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=300" {
		w.t.Fatalf("certificate keys: %d %s", r.Status, r.Body)
	}
	var keys struct {
		Keys []trust.CertifiedKey `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &keys); err != nil {
		w.t.Fatal(err)
	}
	return keys.Keys
}

func TestDocumentChecksWithPublishedKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, aliceID := w.enroll("document-alice", 4)
	id := w.issue(w.police, "driving_licence", aliceID, licenceFields(4))["certificate_id"].(string)
	doc := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates/" + id + "/document", Token: alice})
	if want := `attachment; filename="` + id + `.jws"`; doc.Status != http.StatusOK || doc.Header.Get("Content-Disposition") != want {
		t.Fatalf("document: %d %v", doc.Status, doc.Header)
	}
	keys, root := w.publishedKeys(), w.api.Secrets.Home.Root
	p, err := certificates.VerifyDocument(string(doc.Body), keys, root)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	_ = json.Unmarshal(p.Certificate.Fields, &fields)
	if p.Certificate.CertificateID != id || p.Certificate.Status != "active" || fields["licence_number"] != "310101198506100004" {
		t.Errorf("payload: %+v %v", p, fields)
	}
	if strings.Contains(string(doc.Body), aliceID) {
		t.Error("the document names the holder")
	}
	for i := range doc.Body {
		b := []byte(string(doc.Body))
		b[i] ^= 0x01
		if _, err := certificates.VerifyDocument(string(b), keys, root); !errors.Is(err, certificates.ErrBadDocument) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	// Anyone may ask what it is now; an unknown id is not found.
	if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates/" + id + "/status"}); r.Status != http.StatusOK || r.JSON["status"] != "active" {
		t.Errorf("public status: %d %s", r.Status, r.Body)
	}
	if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/certificates/crt_aaaaaaaaaaaaaaaaaaaaaaaaaa/status"}); r.Code() != "certificate_not_found" {
		t.Errorf("unknown certificate's status: %d %s", r.Status, r.Body)
	}
	// Someone else's certificate is not found.
	bob, _ := w.enroll("document-bob", 5)
	if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates/" + id + "/document", Token: bob}); r.Code() != "certificate_not_found" {
		t.Errorf("another holder's document: %d %s", r.Status, r.Body)
	}
}

func TestWindowConsentRequestsAreChecked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice, _ := w.enroll("window-alice", 6)
	code := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: alice}).JSON["code"].(string)
	noOrg := w.api.Token("window-without-org", "scan:government scan:hotel")
	hotel := w.token("hotel-demo-front-desk", "scan:hotel", "hotel-demo")
	for _, tc := range []struct {
		name, token, purpose, categories, code string
	}{
		{"another purpose", hotel, "hotel", `["driving_licence"]`, "purpose"},
		{"no organisation", noOrg, "government", `["driving_licence"]`, "organisation_required"},
		{"none", w.window, "government", `[]`, "out_of_range"},
		{"eleven", w.window, "government", `["a1","a2","a3","a4","a5","a6","a7","a8","a9","b1","b2"]`, "out_of_range"},
		{"twice", w.window, "government", `["driving_licence","driving_licence"]`, "invalid"},
		{"not an id", w.window, "government", `["Driving Licence"]`, "invalid"},
	} {
		r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/verify", Token: tc.token,
			Body: fmt.Sprintf(`{"code":%q,"purpose":%q,"certificate_categories":%s}`, code, tc.purpose, tc.categories)})
		errs, _ := r.JSON["errors"].([]any)
		if r.Status != http.StatusUnprocessableEntity || len(errs) != 1 || errs[0].(map[string]any)["code"] != tc.code {
			t.Errorf("%s: %d %s, want 422 %s", tc.name, r.Status, r.Body, tc.code)
		}
	}
	// Without certificate_categories, verify answers as it always did.
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/verify", Token: w.window, Body: fmt.Sprintf(`{"code":%q,"purpose":"government"}`, code)})
	if r.Status != http.StatusOK || r.JSON["valid"] != true || r.JSON["consent"] != nil {
		t.Errorf("plain verify: %d %s", r.Status, r.Body)
	}
}
