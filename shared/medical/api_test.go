package medical_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/medical"
)

// world is the whole local API with one insured resident and the demo
// providers' tokens.
type world struct {
	api                                    *apitest.API
	resident, holderID                     string
	hospital, district, pharmacy, stranger string
}

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

func newWorld(t *testing.T, profile medical.Profile) world {
	t.Helper()
	api := apitest.New(t, apitest.WithEnv("HospitalSettleFunction", map[string]string{"MEDICAL_POLICIES_DIR": policiesForNow(t)}))
	w := world{api: api, resident: api.Token("med-resident", "resident")}
	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: w.resident, Body: fmt.Sprintf(
		`{"name":"陈静","document_type":"resident_id","document_number":%q,"date_of_birth":"1979-05-21","nationality":"CHN"}`, residentID("31010619790521002"))})
	if r.Status != 201 {
		t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	w.holderID = r.JSON["holder_id"].(string)
	profile.HolderID, profile.City = w.holderID, "sh"
	store := medical.NewStore(api.DB.Client, api.DB.Tables["MedicalTable"], api.DB.Tables["HoldersTable"], nil, nil)
	if err := store.PutProfile(t.Context(), profile); err != nil {
		t.Fatal(err)
	}
	token := func(sub, scope, org string) string {
		tok, err := api.TokenWithOrg(sub, scope, org)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	w.hospital = token("hospital-demo-billing", "scan:hospital", "hospital-demo")
	w.district = token("district-billing", "scan:hospital", "hospital-district-demo")
	w.pharmacy = token("pharmacy-demo-till-1", "scan:pharmacy", "pharmacy-demo")
	w.stranger = token("clinic-x", "scan:hospital", "unlisted-clinic")
	return w
}

// policiesForNow is a policy directory in which the sample policy is in
// force this year and next (a run across New Year in Shanghai), so that the
// API's tests, which settle at the present time, expect the sample's
// numbers whatever year they run in, and whatever later years' files say.
func policiesForNow(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "infra", "medical", "policies", "sh-2026.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	year := time.Now().In(time.FixedZone("CST", 8*60*60)).Year()
	for _, y := range []int{year, year + 1} {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		doc["id"], doc["year"] = fmt.Sprint("sh-", y), y
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("sh-", y, ".json")), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// code is a fresh code of the resident's.
func (w world) code(t *testing.T) string {
	t.Helper()
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.resident})
	if r.Status != 201 {
		t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	return r.JSON["code"].(string)
}

func (w world) post(t *testing.T, token, path string, body any, key string) apitest.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req := apitest.Request{Method: "POST", Path: path, Token: token, Body: string(b)}
	if key != "" {
		req.Header = map[string]string{"Idempotency-Key": key}
	}
	return w.api.Do(req)
}

// visit opens a visit at the hospital of token with a fresh code.
func (w world) visit(t *testing.T, token, visitType string) string {
	t.Helper()
	r := w.post(t, token, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": visitType}, "visit-"+fmt.Sprint(time.Now().UnixNano()))
	if r.Status != 201 {
		t.Fatalf("open visit: %d %s", r.Status, r.Body)
	}
	return r.JSON["visit_id"].(string)
}

type line struct {
	ItemCode  string `json:"item_code"`
	Category  string `json:"category"`
	Quantity  int64  `json:"quantity"`
	AmountFen int64  `json:"amount_fen"`
}

type bill struct {
	VisitID  string `json:"visit_id"`
	BillID   string `json:"bill_id,omitempty"`
	Lines    []line `json:"lines"`
	TotalFen int64  `json:"total_fen"`
}

func newBill(visitID, billID string, lines ...line) bill {
	b := bill{VisitID: visitID, BillID: billID, Lines: lines}
	for _, l := range lines {
		b.TotalFen += l.AmountFen
	}
	return b
}

func (w world) insurance(t *testing.T) map[string]any {
	t.Helper()
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/insurance", Token: w.resident})
	if r.Status != 200 {
		t.Fatalf("insurance: %d %s", r.Status, r.Body)
	}
	return r.JSON
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

func TestRegisterEstimateSettleAndReverse(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", PersonalAccountFen: 100_000})
	before := w.insurance(t)

	// Registration: what the hospital needs, and not the balances.
	r := w.post(t, w.hospital, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": "outpatient"}, "v-1")
	if r.Status != 201 {
		t.Fatalf("open visit: %d %s", r.Status, r.Body)
	}
	wantPatient := map[string]any{"name": "陈静", "document_type": "resident_id", "document_number": residentID("31010619790521002"), "date_of_birth": "1979-05-21"}
	if diff := cmp.Diff(wantPatient, r.JSON["patient"]); diff != "" {
		t.Errorf("patient (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"scheme": "employee", "retired": false, "insured_city": "sh"}, r.JSON["insurance"]); diff != "" {
		t.Errorf("insurance identity (-want +got):\n%s", diff)
	}
	if strings.Contains(string(r.Body), "personal_account") {
		t.Errorf("registration shows the account: %s", r.Body)
	}
	visitID := r.JSON["visit_id"].(string)

	b := newBill(visitID, "INV-0001", line{"XA01", "A", 2, 60_000}, line{"XB07", "B", 1, 30_000}, line{"XC03", "C", 1, 5_000})
	est := w.post(t, w.hospital, "/v1/medical/settlements/estimates", b, "")
	if est.Status != 200 {
		t.Fatalf("estimate: %d %s", est.Status, est.Body)
	}
	// The policy in force is this year's, whatever year the test runs in.
	if want := fmt.Sprint("sh-", time.Now().In(time.FixedZone("CST", 8*60*60)).Year()); est.JSON["policy"] != want {
		t.Errorf("policy %v, want %s", est.JSON["policy"], want)
	}
	if diff := cmp.Diff(before, w.insurance(t)); diff != "" {
		t.Errorf("an estimate changed the profile (-before +after):\n%s", diff)
	}
	st := w.post(t, w.hospital, "/v1/medical/settlements", b, "s-1")
	if st.Status != 201 || st.JSON["status"] != "completed" {
		t.Fatalf("settle: %d %s", st.Status, st.Body)
	}
	if diff := cmp.Diff(est.JSON["total"], st.JSON["total"]); diff != "" {
		t.Errorf("settlement differs from its estimate (-estimate +settled):\n%s", diff)
	}
	total := st.JSON["total"].(map[string]any)
	if num(total["submitted"]) != 95_000 || num(total["benefit"])+num(total["personal_account"])+num(total["cash"]) != 95_000 {
		t.Errorf("total %v does not add up to the bill", total)
	}
	id := st.JSON["settlement_id"].(string)

	// Retries: the same key replays; another key with the same bill answers
	// the first settlement; nothing is charged twice.
	replay := w.post(t, w.hospital, "/v1/medical/settlements", b, "s-1")
	again := w.post(t, w.hospital, "/v1/medical/settlements", b, "s-2")
	if replay.Status != 201 || replay.Header.Get("Idempotent-Replayed") != "true" || again.Status != 200 || again.JSON["settlement_id"] != id {
		t.Errorf("retries: %d %q, %d %v", replay.Status, replay.Header.Get("Idempotent-Replayed"), again.Status, again.JSON["settlement_id"])
	}
	after := w.insurance(t)
	if got, want := num(after["personal_account_fen"]), num(before["personal_account_fen"])-num(total["personal_account"]); got != want {
		t.Errorf("personal account %d, want %d", got, want)
	}
	if got := num(after["fund_paid_fen"]); got != num(total["benefit"]) {
		t.Errorf("fund paid %d, want %d", got, num(total["benefit"]))
	}

	// Read and list.
	got := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/medical/settlements/" + id, Token: w.hospital})
	if got.Status != 200 || got.JSON["bill_id"] != "INV-0001" || len(got.JSON["lines"].([]any)) != 3 {
		t.Errorf("get: %d %s", got.Status, got.Body)
	}
	list := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/medical/settlements?limit=1", Token: w.hospital})
	if items := list.JSON["items"].([]any); list.Status != 200 || len(items) != 1 || items[0].(map[string]any)["settlement_id"] != id {
		t.Errorf("list: %d %s", list.Status, list.Body)
	}

	// Reversal, and its retries, restore exactly once.
	rev := w.post(t, w.hospital, "/v1/medical/settlements/"+id+"/reversals", map[string]string{"reason": "billing_error"}, "r-1")
	if rev.Status != 201 || rev.JSON["status"] != "reversed" {
		t.Fatalf("reverse: %d %s", rev.Status, rev.Body)
	}
	revAgain := w.post(t, w.hospital, "/v1/medical/settlements/"+id+"/reversals", map[string]string{"reason": "billing_error"}, "r-2")
	if revAgain.Status != 200 || !cmp.Equal(rev.JSON["reversal"], revAgain.JSON["reversal"]) {
		t.Errorf("second reversal: %d %s", revAgain.Status, revAgain.Body)
	}
	restored := w.insurance(t)
	delete(before, "updated_at")
	delete(restored, "updated_at")
	if diff := cmp.Diff(before, restored); diff != "" {
		t.Errorf("profile after the reversal (-before the bill +after):\n%s", diff)
	}
}

func TestOnlyTheHospitalShownTheCodeMaySettle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "resident"})
	visitID := w.visit(t, w.hospital, "inpatient")
	b := newBill(visitID, "INV-9", line{"XA01", "A", 1, 10_000})
	st := w.post(t, w.hospital, "/v1/medical/settlements", b, "s-1")
	if st.Status != 201 {
		t.Fatalf("settle: %d %s", st.Status, st.Body)
	}
	id := st.JSON["settlement_id"].(string)
	before := w.insurance(t)

	code := w.code(t)
	first := w.post(t, w.district, "/v1/medical/visits", map[string]string{"code": code, "visit_type": "outpatient"}, "v-a")
	tests := []struct {
		name   string
		resp   apitest.Response
		status int
		code   string
	}{
		{"another hospital settles on this visit", w.post(t, w.district, "/v1/medical/settlements", newBill(visitID, "INV-X", line{"XA01", "A", 1, 10_000}), "s-x"), 404, "visit_not_found"},
		{"another hospital estimates on this visit", w.post(t, w.district, "/v1/medical/settlements/estimates", newBill(visitID, "", line{"XA01", "A", 1, 10_000}), ""), 404, "visit_not_found"},
		{"another hospital reads the settlement", w.api.Do(apitest.Request{Method: "GET", Path: "/v1/medical/settlements/" + id, Token: w.district}), 404, "settlement_not_found"},
		{"a pharmacy reads the settlement", w.api.Do(apitest.Request{Method: "GET", Path: "/v1/medical/settlements/" + id, Token: w.pharmacy}), 404, "settlement_not_found"},
		{"another hospital reverses it", w.post(t, w.district, "/v1/medical/settlements/"+id+"/reversals", map[string]string{"reason": "other"}, "r-x"), 404, "settlement_not_found"},
		{"an unlisted organisation", w.post(t, w.stranger, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": "outpatient"}, "v-s"), 403, "not_a_provider"},
		{"a pharmacy opening a visit", w.post(t, w.pharmacy, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": "outpatient"}, "v-p"), 403, "forbidden"},
		{"the same code at a second desk", w.post(t, w.district, "/v1/medical/visits", map[string]string{"code": code, "visit_type": "outpatient"}, "v-b"), 422, "code_not_accepted"},
		{"not a code", w.post(t, w.district, "/v1/medical/visits", map[string]string{"code": "CC1:NOTACODE", "visit_type": "outpatient"}, "v-c"), 422, "code_not_accepted"},
		{"another city's code", w.post(t, w.district, "/v1/medical/visits", map[string]string{"code": w.peerCode(t), "visit_type": "outpatient"}, "v-d"), 422, "not_insured"},
		{"no Idempotency-Key", w.post(t, w.district, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": "outpatient"}, ""), 400, "idempotency_key_required"},
	}
	for _, tc := range tests {
		if tc.resp.Status != tc.status || tc.resp.Code() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, tc.resp.Status, tc.resp.Body, tc.status, tc.code)
		}
	}
	if first.Status != 201 {
		t.Errorf("first scan at the district hospital: %d %s", first.Status, first.Body)
	}
	if errs := tests[7].resp.JSON["errors"].([]any); errs[0].(map[string]any)["code"] != "replayed" {
		t.Errorf("the second desk's refusal names %v, want replayed", errs)
	}
	if diff := cmp.Diff(before, w.insurance(t)); diff != "" {
		t.Errorf("refusals changed the profile (-before +after):\n%s", diff)
	}
	// The hospital's scans are in the holder's access log; the refused and
	// the unlisted ones are not.
	log := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log", Token: w.resident})
	var orgs []string
	for _, it := range log.JSON["items"].([]any) {
		orgs = append(orgs, it.(map[string]any)["organisation"].(string))
	}
	if diff := cmp.Diff([]string{"hospital-district-demo", "hospital-demo"}, orgs); diff != "" {
		t.Errorf("access log organisations (-want +got):\n%s", diff)
	}
}

// peerCode is a code of the demo second city (CN-HZ) for the resident's
// holder reference.
func (w world) peerCode(t *testing.T) string {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	ref, err := holders.Ref(w.holderID)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := w.api.Secrets.Peer.Signer(now)
	if err != nil {
		t.Fatal(err)
	}
	code, err := credential.Encode(signer, credential.Claims{Issuer: "CN-HZ", Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestBadBillsAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", PersonalAccountFen: 50_000})
	visitID := w.visit(t, w.hospital, "outpatient")
	before := w.insurance(t)
	good := line{"XA01", "A", 1, 1_000}
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"negative amount", mustJSON(t, newBill(visitID, "B1", good, line{"XA02", "A", 1, -500})), []string{"lines[1].amount_fen"}},
		{"zero quantity", mustJSON(t, newBill(visitID, "B2", line{"XA02", "A", 0, 500})), []string{"lines[0].quantity"}},
		{"unknown category", mustJSON(t, newBill(visitID, "B3", good, line{"XD01", "D", 1, 500})), []string{"lines[1].category"}},
		{"bad item code", mustJSON(t, newBill(visitID, "B4", line{"X A", "A", 1, 500})), []string{"lines[0].item_code"}},
		{"total does not add up", strings.Replace(mustJSON(t, newBill(visitID, "B5", good)), `"total_fen":1000`, `"total_fen":1001`, 1), []string{"total_fen"}},
		{"no lines", mustJSON(t, bill{VisitID: visitID, BillID: "B6", Lines: []line{}}), []string{"lines"}},
		{"no bill id", mustJSON(t, newBill(visitID, "", good)), []string{"bill_id"}},
		{"several at once", mustJSON(t, newBill("vst_nope", "B7", line{"", "Z", 0, -1})),
			[]string{"visit_id", "lines[0].item_code", "lines[0].category", "lines[0].quantity", "lines[0].amount_fen"}},
	}
	for i, tc := range tests {
		r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/medical/settlements", Token: w.hospital, Body: tc.body,
			Header: map[string]string{"Idempotency-Key": fmt.Sprint("bad-", i)}})
		var fields []string
		for _, e := range r.JSON["errors"].([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		if r.Status != 422 || r.Code() != "validation_failed" || !cmp.Equal(tc.fields, fields) {
			t.Errorf("%s: %d %s, want 422 validation_failed on %v", tc.name, r.Status, r.Body, tc.fields)
		}
	}
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/medical/settlements", Token: w.hospital, Body: `{"visit_id":"x","lines":[],"total_fen":"12"}`,
		Header: map[string]string{"Idempotency-Key": "bad-json"}}); r.Status != 400 || r.Code() != "invalid_json" {
		t.Errorf("a string total: %d %s", r.Status, r.Body)
	}
	if diff := cmp.Diff(before, w.insurance(t)); diff != "" {
		t.Errorf("bad bills changed the profile (-before +after):\n%s", diff)
	}
	if list := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/medical/settlements", Token: w.hospital}); len(list.JSON["items"].([]any)) != 0 {
		t.Errorf("bad bills were recorded: %s", list.Body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPharmacySaleWithTheCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", PersonalAccountFen: 2_000})
	sale := map[string]any{"code": w.code(t), "sale_id": "TILL1-0001", "total_fen": 4_000,
		"lines": []line{{"YA01", "A", 2, 2_500}, {"YC09", "C", 1, 1_500}}}
	r := w.post(t, w.pharmacy, "/v1/pharmacy/sales", sale, "sale-1")
	if r.Status != 201 || r.JSON["provider_kind"] != "pharmacy" || r.JSON["bill_id"] != "TILL1-0001" || r.JSON["visit_id"] != nil {
		t.Fatalf("sale: %d %s", r.Status, r.Body)
	}
	total := r.JSON["total"].(map[string]any)
	// The account pays what it has of the eligible item; category C and the
	// rest are cash.
	if num(total["personal_account"]) != 2_000 || num(total["cash"]) != 2_000 || num(total["benefit"]) != 0 {
		t.Errorf("sale total %v: want 2000 from the account and 2000 cash", total)
	}
	if got := num(w.insurance(t)["personal_account_fen"]); got != 0 {
		t.Errorf("account after the sale: %d, want 0", got)
	}
	// The same sale again (a lost answer, another key, the code used up)
	// answers the first; other lines under the same sale id are refused.
	again := w.post(t, w.pharmacy, "/v1/pharmacy/sales", sale, "sale-2")
	if again.Status != 200 || again.JSON["settlement_id"] != r.JSON["settlement_id"] {
		t.Errorf("the same sale again: %d %s", again.Status, again.Body)
	}
	// The same sale id and lines for another patient (a till's counter
	// reused) is not the same sale.
	dep := w.post(t, w.resident, "/v1/holders/me/dependants", map[string]string{"name": "李小明", "document_type": "passport",
		"document_number": "E9988776", "date_of_birth": "2015-05-05", "nationality": "CHN", "relationship": "child"}, "")
	if dep.Status != 201 {
		t.Fatalf("dependant: %d %s", dep.Status, dep.Body)
	}
	depCode := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.resident, Body: `{"holder_id":"` + dep.JSON["holder_id"].(string) + `"}`})
	if depCode.Status != 201 {
		t.Fatalf("dependant's code: %d %s", depCode.Status, depCode.Body)
	}
	other := map[string]any{"code": depCode.JSON["code"], "sale_id": sale["sale_id"], "total_fen": sale["total_fen"], "lines": sale["lines"]}
	if reused := w.post(t, w.pharmacy, "/v1/pharmacy/sales", other, "sale-other"); reused.Status != 409 || reused.Code() != "bill_id_reused" {
		t.Errorf("the same sale id for another patient: %d %s", reused.Status, reused.Body)
	}
	sale["lines"], sale["total_fen"] = []line{{"YA01", "A", 1, 1_250}}, 1_250
	if reused := w.post(t, w.pharmacy, "/v1/pharmacy/sales", sale, "sale-3"); reused.Status != 409 || reused.Code() != "bill_id_reused" {
		t.Errorf("another sale under the same id: %d %s", reused.Status, reused.Body)
	}
	sale["sale_id"] = "TILL1-0002"
	if replayed := w.post(t, w.pharmacy, "/v1/pharmacy/sales", sale, "sale-4"); replayed.Status != 422 || replayed.Code() != "code_not_accepted" {
		t.Errorf("a new sale with a used code: %d %s", replayed.Status, replayed.Body)
	}
	// The pharmacy refunds it: the account is restored.
	rev := w.post(t, w.pharmacy, "/v1/medical/settlements/"+r.JSON["settlement_id"].(string)+"/reversals", map[string]string{"reason": "patient_request"}, "refund-1")
	if rev.Status != 201 || num(w.insurance(t)["personal_account_fen"]) != 2_000 {
		t.Errorf("refund: %d %s", rev.Status, rev.Body)
	}
}

func TestConcurrentBillsAtTwoHospitals(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", Retired: true, PersonalAccountFen: 120_000})
	visits := map[string]string{w.hospital: w.visit(t, w.hospital, "outpatient"), w.district: w.visit(t, w.district, "outpatient")}
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		account, fund int64
	)
	for token, visitID := range visits {
		for i := range 4 {
			wg.Go(func() {
				b := newBill(visitID, fmt.Sprint("INV-", i), line{"XA01", "A", 1, 30_000}, line{"XB01", "B", 1, 10_000})
				r := w.post(t, token, "/v1/medical/settlements", b, fmt.Sprint(visitID, "-", i))
				if r.Status != 201 {
					t.Errorf("settle: %d %s", r.Status, r.Body)
					return
				}
				total := r.JSON["total"].(map[string]any)
				mu.Lock()
				account += num(total["personal_account"])
				fund += num(total["benefit"])
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	after := w.insurance(t)
	if got := num(after["personal_account_fen"]); got != 120_000-account {
		t.Errorf("personal account %d, want %d (120000 less what 8 bills took)", got, 120_000-account)
	}
	if got := num(after["fund_paid_fen"]); got != fund {
		t.Errorf("fund paid %d, want %d", got, fund)
	}
	if got := num(after["outpatient_deductible_met_fen"]); got != 70_000 {
		t.Errorf("deductible met %d, want the retired outpatient deductible 70000", got)
	}
	// Each hospital lists its own four, newest first, in pages.
	var ids []string
	var last time.Time
	for path := "/v1/medical/settlements?limit=3"; path != ""; {
		page := w.api.Do(apitest.Request{Method: "GET", Path: path, Token: w.district})
		for _, it := range page.JSON["items"].([]any) {
			st := it.(map[string]any)
			at, _ := time.Parse(time.RFC3339Nano, st["settled_at"].(string))
			if !last.IsZero() && at.After(last) || st["organisation"] != "hospital-district-demo" {
				t.Errorf("listed out of order or another's: %v", st)
			}
			last = at
			ids = append(ids, st["settlement_id"].(string))
		}
		path = ""
		if next, ok := page.JSON["next_cursor"].(string); ok {
			path = "/v1/medical/settlements?limit=3&cursor=" + next
		}
	}
	if len(ids) != 4 {
		t.Errorf("listed %d settlements of the district hospital, want 4", len(ids))
	}
}

func TestResidentReadsOwnAndDependantsInsurance(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", PersonalAccountFen: 4_200})
	own := w.insurance(t)
	if own["holder_id"] != w.holderID || num(own["personal_account_fen"]) != 4_200 || own["scheme"] != "employee" || num(own["year"]) < 2026 {
		t.Errorf("own insurance: %v", own)
	}
	r := w.post(t, w.resident, "/v1/holders/me/dependants", map[string]string{"name": "陈小米", "document_type": "resident_id",
		"document_number": residentID("31010620180304002"), "date_of_birth": "2018-03-04", "nationality": "CHN", "relationship": "child"}, "")
	if r.Status != 201 {
		t.Fatalf("enroll dependant: %d %s", r.Status, r.Body)
	}
	child := r.JSON["holder_id"].(string)
	path := "/v1/holders/me/insurance?holder_id=" + child
	if r := w.api.Do(apitest.Request{Method: "GET", Path: path, Token: w.resident}); r.Status != 404 || r.Code() != "not_insured" {
		t.Errorf("uninsured child: %d %s", r.Status, r.Body)
	}
	store := medical.NewStore(w.api.DB.Client, w.api.DB.Tables["MedicalTable"], w.api.DB.Tables["HoldersTable"], nil, nil)
	if err := store.PutProfile(t.Context(), medical.Profile{HolderID: child, Scheme: "resident", City: "sh"}); err != nil {
		t.Fatal(err)
	}
	if r := w.api.Do(apitest.Request{Method: "GET", Path: path, Token: w.resident}); r.Status != 200 || r.JSON["scheme"] != "resident" || r.JSON["holder_id"] != child {
		t.Errorf("child's insurance: %d %s", r.Status, r.Body)
	}
	other := w.api.Token("med-other", "resident")
	if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/insurance", Token: other}); r.Status != 404 || r.Code() != "not_enrolled" {
		t.Errorf("not enrolled: %d %s", r.Status, r.Body)
	}
	if r := w.post(t, other, "/v1/holders", map[string]string{"name": "周全", "document_type": "passport", "document_number": "E7654321",
		"date_of_birth": "1990-01-01", "nationality": "SGP"}, ""); r.Status != 201 {
		t.Fatalf("enroll other: %d %s", r.Status, r.Body)
	}
	for p, code := range map[string]string{"/v1/holders/me/insurance": "not_insured", path: "dependant_not_found"} {
		if r := w.api.Do(apitest.Request{Method: "GET", Path: p, Token: other}); r.Status != 404 || r.Code() != code {
			t.Errorf("another resident GET %s: %d %s, want %s", p, r.Status, r.Body, code)
		}
	}
}

// put sends a PUT with body (JSON).
func (w world) put(t *testing.T, token, path string, body any) apitest.Response {
	t.Helper()
	return w.api.Do(apitest.Request{Method: "PUT", Path: path, Token: token, Body: mustJSON(t, body)})
}

func TestTheBureauEnrolsAndCredits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "resident"})
	bureau, err := w.api.TokenWithOrg("social-security-demo-enrolment", "insurance:admin", "social-security-demo")
	if err != nil {
		t.Fatal(err)
	}
	// The resident's dependant has no profile until the bureau enrols them.
	r := w.post(t, w.resident, "/v1/holders/me/dependants", map[string]string{"name": "陈小米", "document_type": "resident_id",
		"document_number": residentID("31010620180304002"), "date_of_birth": "2018-03-04", "nationality": "CHN", "relationship": "child"}, "")
	if r.Status != 201 {
		t.Fatalf("enroll dependant: %d %s", r.Status, r.Body)
	}
	child := r.JSON["holder_id"].(string)
	profile := "/v1/medical/insurance-profiles/" + child
	childInsurance := func() apitest.Response {
		return w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/insurance?holder_id=" + child, Token: w.resident})
	}

	enrolled := w.put(t, bureau, profile, map[string]any{"scheme": "employee", "retired": false, "insured_city": "sh"})
	if enrolled.Status != 201 || enrolled.JSON["scheme"] != "employee" || num(enrolled.JSON["personal_account_fen"]) != 0 || num(enrolled.JSON["version"]) != 0 {
		t.Fatalf("enrol: %d %s", enrolled.Status, enrolled.Body)
	}
	if again := w.put(t, bureau, profile, map[string]any{"scheme": "employee", "insured_city": "sh"}); again.Status != 200 || num(again.JSON["version"]) != 0 {
		t.Errorf("the same enrolment again: %d %s", again.Status, again.Body)
	}

	// A yearly credit, retried with the same key, counts once; the same key
	// for another amount is refused.
	credit := map[string]any{"amount_fen": 120_000, "reference": "SSB-2026-ANNUAL"}
	first := w.post(t, bureau, profile+"/credits", credit, "credit-annual")
	if first.Status != 201 || num(first.JSON["personal_account_fen"]) != 120_000 || first.JSON["credited_by"] != "social-security-demo" {
		t.Fatalf("credit: %d %s", first.Status, first.Body)
	}
	if replay := w.post(t, bureau, profile+"/credits", credit, "credit-annual"); replay.Status != 201 || replay.Header.Get("Idempotent-Replayed") != "true" ||
		replay.JSON["credit_id"] != first.JSON["credit_id"] {
		t.Errorf("retried credit: %d %s", replay.Status, replay.Body)
	}
	if reused := w.post(t, bureau, profile+"/credits", map[string]any{"amount_fen": 1}, "credit-annual"); reused.Status != 422 || reused.Code() != "idempotency_key_reused" {
		t.Errorf("another credit under the key: %d %s", reused.Status, reused.Body)
	}
	if monthly := w.post(t, bureau, profile+"/credits", map[string]any{"amount_fen": 10_000}, "credit-2026-01"); monthly.Status != 201 || num(monthly.JSON["personal_account_fen"]) != 130_000 {
		t.Errorf("a second credit: %d %s", monthly.Status, monthly.Body)
	}
	// A change of scheme keeps the money; the resident sees it all.
	changed := w.put(t, bureau, profile, map[string]any{"scheme": "resident", "retired": false, "insured_city": "sh"})
	if changed.Status != 200 || changed.JSON["scheme"] != "resident" || num(changed.JSON["personal_account_fen"]) != 130_000 || num(changed.JSON["version"]) != 3 {
		t.Errorf("change of scheme: %d %s", changed.Status, changed.Body)
	}
	if got := childInsurance(); got.Status != 200 || got.JSON["scheme"] != "resident" || num(got.JSON["personal_account_fen"]) != 130_000 {
		t.Errorf("the resident reads the child's insurance: %d %s", got.Status, got.Body)
	}
	if got := w.api.Do(apitest.Request{Method: "GET", Path: profile, Token: bureau}); got.Status != 200 || num(got.JSON["version"]) != 3 {
		t.Errorf("the bureau reads the profile: %d %s", got.Status, got.Body)
	}

	// Refusals change nothing.
	unknown := "/v1/medical/insurance-profiles/hdr_" + strings.Repeat("a", 26)
	tests := []struct {
		name   string
		resp   apitest.Response
		status int
		code   string
	}{
		{"a hospital enrols", w.put(t, w.hospital, profile, map[string]any{"scheme": "employee", "insured_city": "sh"}), 403, "forbidden"},
		{"a resident credits", w.post(t, w.resident, profile+"/credits", credit, "c-r"), 403, "forbidden"},
		{"unknown scheme", w.put(t, bureau, profile, map[string]any{"scheme": "gold", "insured_city": "sh"}), 422, "validation_failed"},
		{"no city", w.put(t, bureau, profile, map[string]any{"scheme": "employee"}), 422, "validation_failed"},
		{"unknown field", w.put(t, bureau, profile, map[string]any{"scheme": "employee", "insured_city": "sh", "personal_account_fen": 1}), 400, "unknown_field"},
		{"unknown holder", w.put(t, bureau, unknown, map[string]any{"scheme": "employee", "insured_city": "sh"}), 404, "holder_not_found"},
		{"not a holder id", w.put(t, bureau, "/v1/medical/insurance-profiles/hdr_x", map[string]any{"scheme": "employee", "insured_city": "sh"}), 404, "holder_not_found"},
		{"credit without a key", w.post(t, bureau, profile+"/credits", credit, ""), 400, "idempotency_key_required"},
		{"zero credit", w.post(t, bureau, profile+"/credits", map[string]any{"amount_fen": 0}, "c-0"), 422, "validation_failed"},
		{"credit an unknown holder", w.post(t, bureau, unknown+"/credits", credit, "c-u"), 404, "not_insured"},
	}
	for _, tc := range tests {
		if tc.resp.Status != tc.status || tc.resp.Code() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, tc.resp.Status, tc.resp.Body, tc.status, tc.code)
		}
	}
	if got := childInsurance(); num(got.JSON["personal_account_fen"]) != 130_000 || got.JSON["scheme"] != "resident" {
		t.Errorf("refusals changed the profile: %s", got.Body)
	}
}

func TestAFinalBillClosesTheVisit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, medical.Profile{Scheme: "employee", PersonalAccountFen: 100_000})
	r := w.post(t, w.hospital, "/v1/medical/visits", map[string]string{"code": w.code(t), "visit_type": "inpatient"}, "v-in")
	if r.Status != 201 {
		t.Fatalf("open visit: %d %s", r.Status, r.Body)
	}
	opened, _ := time.Parse(time.RFC3339Nano, r.JSON["opened_at"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, r.JSON["expires_at"].(string))
	if d := expires.Sub(opened); d < medical.InpatientVisitFor-time.Second || d > medical.InpatientVisitFor {
		t.Errorf("an inpatient visit open for %v, want %v", d, medical.InpatientVisitFor)
	}
	visitID := r.JSON["visit_id"].(string)
	interim := w.post(t, w.hospital, "/v1/medical/settlements", newBill(visitID, "INTERIM-1", line{"XA01", "A", 1, 20_000}), "s-1")
	discharge := newBill(visitID, "DISCHARGE", line{"XA01", "A", 1, 30_000})
	final := map[string]any{"visit_id": visitID, "bill_id": discharge.BillID, "lines": discharge.Lines, "total_fen": discharge.TotalFen, "final": true}
	closing := w.post(t, w.hospital, "/v1/medical/settlements", final, "s-2")
	if interim.Status != 201 || closing.Status != 201 {
		t.Fatalf("interim %d %s, discharge %d %s", interim.Status, interim.Body, closing.Status, closing.Body)
	}
	after := newBill(visitID, "LATE", line{"XA01", "A", 1, 1_000})
	if late := w.post(t, w.hospital, "/v1/medical/settlements", after, "s-3"); late.Status != 409 || late.Code() != "visit_closed" {
		t.Errorf("a bill after discharge: %d %s", late.Status, late.Body)
	}
	if est := w.post(t, w.hospital, "/v1/medical/settlements/estimates", after, ""); est.Status != 409 || est.Code() != "visit_closed" {
		t.Errorf("an estimate after discharge: %d %s", est.Status, est.Body)
	}
	// The discharge bill retried (a lost answer, another key) answers its settlement.
	if again := w.post(t, w.hospital, "/v1/medical/settlements", final, "s-4"); again.Status != 200 || again.JSON["settlement_id"] != closing.JSON["settlement_id"] {
		t.Errorf("the discharge bill again: %d %s", again.Status, again.Body)
	}
}
