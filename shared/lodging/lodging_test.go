package lodging_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// TestCheckInIsReportedToThePolice: a hotel checks in two adults and a
// child, one adult with a code of the second city; the police's receiver,
// subscribed through the real pipeline (outbox, stream, publisher,
// EventBridge and SQS in moto, webhook delivery), gets three signed
// registration events, their receipts mark the reports delivered, and the
// check-out brings the three departures.
func TestCheckInIsReportedToThePolice(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	received := w.policeReceiver(t)

	mum, mumID := w.enroll(t, "lodging-mum", "陈静", "31010419850304002", "1985-03-04")
	dep := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/dependants", Token: mum, Body: fmt.Sprintf(
		`{"name":"陈小宝","document_type":"resident_id","document_number":%q,"date_of_birth":"2017-06-01","nationality":"CHN","relationship":"child"}`,
		residentID("31010420170601003"))})
	if dep.Status != http.StatusCreated {
		t.Fatalf("dependant: %d %s", dep.Status, dep.Body)
	}
	childID := dep.JSON["holder_id"].(string)

	body := fmt.Sprintf(`{"room":"1208","check_out_date":%q,"guests":[{"code":%q},{"code":%q},
		{"code":%q,"registration":{"name":"Lukas Weber","document_type":"passport","document_number":"C4J8K2L9M","date_of_birth":"1987-03-14","nationality":"DEU"}}]}`,
		time.Now().AddDate(0, 0, 2).Format(time.DateOnly), w.code(t, mum, ""), w.code(t, mum, childID), w.peerCode(t))
	in := w.post(t, w.hotel, "/v1/hotel/stays", body)
	if in.Status != http.StatusCreated {
		t.Fatalf("check-in: %d %s", in.Status, in.Body)
	}
	stayPath := in.Header.Get("Location")
	gs := guests(in)
	regs := map[string]string{} // registration id -> who
	type guest struct {
		Name, Issuer, Doc, Guardian string
		Home, Minor                 bool
	}
	var got []guest
	for _, g := range gs {
		gd, _ := g["guardian_registration_id"].(string)
		got = append(got, guest{g["name"].(string), g["issuer"].(string), g["document_number_masked"].(string), gd, g["home"].(bool), g["minor"].(bool)})
		regs[g["registration_id"].(string)] = g["name"].(string)
	}
	mumReg := gs[slices.IndexFunc(gs, func(g map[string]any) bool { return g["holder_id"] == mumID })]["registration_id"].(string)
	want := []guest{
		{"陈静", "CN-SH", "3101**********" + residentID("31010419850304002")[14:], "", true, false},
		{"陈小宝", "CN-SH", "3101**********" + residentID("31010420170601003")[14:], mumReg, true, true},
		{"Lukas Weber", "CN-HZ", "*****2L9M", "", false, false},
	}
	sortGuests := func(g []guest) { slices.SortFunc(g, func(a, b guest) int { return strings.Compare(a.Name, b.Name) }) }
	sortGuests(got)
	sortGuests(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("guests (-want +got):\n%s", diff)
	}

	w.api.StartJobs()
	ofType := func(typ string) []delivery {
		var out []delivery
		for _, d := range received() {
			if d.event["type"] == typ {
				out = append(out, d)
			}
		}
		return out
	}
	eventually(t, "three registration reports", func() bool { return len(ofType("city.lodging.guest.registered.v1")) >= 3 })
	for _, d := range ofType("city.lodging.guest.registered.v1") {
		data := d.event["data"].(map[string]any)
		if d.verified != nil || regs[d.event["subject"].(string)] != data["name"] || data["registration_id"] != d.event["subject"] {
			t.Errorf("report %v: signature %v; want a signed report of one of %v", d.event, d.verified, regs)
		}
		raw, _ := json.Marshal(data)
		if err := outboxtest.Validate("city.lodging.guest.registered.v1", raw); err != nil {
			t.Error(err)
		}
	}
	// The receipts reach the stay: every registration report delivered, on time.
	eventually(t, "the receipts", func() bool {
		st := w.get(t, w.hotel, stayPath)
		for _, g := range guests(st) {
			if !slices.Equal(reportStatuses(g), []string{"registered:delivered"}) {
				return false
			}
		}
		return true
	})

	out := w.post(t, w.hotel, stayPath+"/check-out", "")
	if out.Status != http.StatusOK || out.JSON["status"] != "checked_out" {
		t.Fatalf("check-out: %d %s", out.Status, out.Body)
	}
	eventually(t, "three departure reports", func() bool { return len(ofType("city.lodging.guest.departed.v1")) >= 3 })
	time.Sleep(2 * time.Second) // anything further would be a duplicate
	subjects := map[string]int{}
	for _, d := range received() {
		if d.verified != nil {
			t.Errorf("unsigned delivery %v", d.event)
		}
		subjects[d.event["subject"].(string)]++
	}
	if len(subjects) != 3 || len(received()) != 6 {
		t.Errorf("deliveries per registration %v (%d in all); want a registration and a departure for each of three guests", subjects, len(received()))
	}
	if o := w.get(t, w.hotel, "/v1/hotel/reports/overdue"); o.Status != http.StatusOK || len(o.JSON["items"].([]any)) != 0 {
		t.Errorf("overdue: %d %s; want none", o.Status, o.Body)
	}
	for _, e := range outboxtest.Recorded(t, w.api.DB.Client, w.api.DB.Tables["EventsTable"]) {
		outboxtest.CheckSchema(t, e)
	}
}

// TestACodeOpensOneStay: the same code shown at two hotels' desks is
// accepted once, and a hotel sees only its own stays.
func TestACodeOpensOneStay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tok, _ := w.enroll(t, "lodging-traveller", "赵雷", "31010119900101001", "1990-01-01")
	code := w.code(t, tok, "")
	body := func(c string) string {
		return fmt.Sprintf(`{"room":"301","check_out_date":%q,"guests":[{"code":%q}]}`, time.Now().AddDate(0, 0, 1).Format(time.DateOnly), c)
	}
	first := w.post(t, w.hotel, "/v1/hotel/stays", body(code))
	if first.Status != http.StatusCreated {
		t.Fatalf("first desk: %d %s", first.Status, first.Body)
	}
	second := w.post(t, w.other, "/v1/hotel/stays", body(code))
	if second.Status != http.StatusUnprocessableEntity || second.Code() != "code_not_accepted" {
		t.Fatalf("second desk: %d %s; want 422 code_not_accepted", second.Status, second.Body)
	}
	wantErr := []any{map[string]any{"field": "guests[0].code", "code": "replayed", "detail": "the code is replayed"}}
	if diff := cmp.Diff(wantErr, second.JSON["errors"]); diff != "" {
		t.Errorf("second desk's errors (-want +got):\n%s", diff)
	}

	stay := first.Header.Get("Location")
	for what, r := range map[string]apitest.Response{
		"read":      w.get(t, w.other, stay),
		"add to":    w.post(t, w.other, stay+"/guests", `{"guests":[{"code":"CC1:X"}]}`),
		"check out": w.post(t, w.other, stay+"/check-out", ""),
	} {
		if r.Status != http.StatusNotFound || r.Code() != "stay_not_found" {
			t.Errorf("another hotel tries to %s the stay: %d %s; want 404 stay_not_found", what, r.Status, r.Body)
		}
	}
	if r := w.get(t, w.hotel, "/v1/hotel/stays/sty_"+strings.Repeat("a", 26)); r.Code() != "stay_not_found" {
		t.Errorf("unknown stay: %s", r.Body)
	}
	own := w.get(t, w.hotel, "/v1/hotel/stays")
	others := w.get(t, w.other, "/v1/hotel/stays")
	if items := own.JSON["items"].([]any); len(items) != 1 || "/v1/hotel/stays/"+items[0].(map[string]any)["stay_id"].(string) != stay {
		t.Errorf("own list: %s", own.Body)
	}
	if len(others.JSON["items"].([]any)) != 0 {
		t.Errorf("the other hotel lists %s", others.Body)
	}
}

// TestCheckInRules: what a desk may and may not do, with the stable codes.
func TestCheckInRules(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dad, _ := w.enroll(t, "lodging-dad", "孙强", "31010119800202001", "1980-02-02")
	dep := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/dependants", Token: dad, Body: fmt.Sprintf(
		`{"name":"孙小美","document_type":"resident_id","document_number":%q,"date_of_birth":"2016-09-09","nationality":"CHN","relationship":"child"}`,
		residentID("31010120160909002"))})
	if dep.Status != http.StatusCreated {
		t.Fatalf("dependant: %d %s", dep.Status, dep.Body)
	}
	kid := dep.JSON["holder_id"].(string)
	stranger, _ := w.enroll(t, "lodging-stranger", "周明", "31010119750505001", "1975-05-05")
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	stay := func(guests string) string {
		return fmt.Sprintf(`{"room":"808","check_out_date":%q,"guests":%s}`, tomorrow, guests)
	}
	typed := `"registration":{"name":"Ana Silva","document_type":"passport","document_number":"P1234567","date_of_birth":"1992-02-29","nationality":"BRA"}`
	noOrg := w.api.Token("desk-without-org", "scan:hotel")

	for _, tc := range []struct {
		name, token, body string
		status            int
		code, field       string
	}{
		{"no organisation", noOrg, stay(fmt.Sprintf(`[{"code":%q}]`, w.code(t, dad, ""))), 403, "org_required", ""},
		{"a minor alone", w.hotel, stay(fmt.Sprintf(`[{"code":%q}]`, w.code(t, dad, kid))), 422, "minor_unaccompanied", ""},
		{"a minor with another adult", w.hotel, stay(fmt.Sprintf(`[{"code":%q},{"code":%q}]`, w.code(t, stranger, ""), w.code(t, dad, kid))), 422, "minor_unaccompanied", ""},
		{"typed data for a home holder", w.hotel, stay(fmt.Sprintf(`[{"code":%q,%s}]`, w.code(t, dad, ""), typed)), 422, "validation_failed", "guests[0].registration"},
		{"another city without typed data", w.hotel, stay(fmt.Sprintf(`[{"code":%q}]`, w.peerCode(t))), 422, "validation_failed", "guests[0].registration"},
		{"bad typed document", w.hotel, stay(fmt.Sprintf(`[{"code":%q,%s}]`, w.peerCode(t), strings.Replace(typed, "P1234567", "P1", 1))), 422, "validation_failed", "guests[0].registration.document_number"},
		{"the same guest twice", w.hotel, stay(fmt.Sprintf(`[{"code":%q},{"code":%q}]`, w.code(t, dad, ""), w.code(t, dad, ""))), 422, "validation_failed", "guests[1].code"},
		{"an expired code", w.hotel, stay(fmt.Sprintf(`[{"code":%q}]`, sign(t, w.api.Secrets.Peer, "CN-HZ", randomRef(), time.Now().Add(-5*time.Minute)))), 422, "code_not_accepted", "guests[0].code"},
		{"a bad room", w.hotel, strings.Replace(stay(`[{"code":"CC1:X"}]`), `"808"`, `"8 08"`, 1), 422, "validation_failed", "room"},
		{"check-out before check-in", w.hotel, strings.Replace(stay(`[{"code":"CC1:X"}]`), tomorrow, "2001-01-01", 1), 422, "validation_failed", "check_out_date"},
		{"no guests", w.hotel, stay(`[]`), 422, "validation_failed", "guests"},
		{"too many guests", w.hotel, stay("[" + strings.Repeat(`{"code":"CC1:X"},`, 10) + `{"code":"CC1:X"}]`), 422, "too_many_guests", ""},
		{"unknown field", w.hotel, `{"room":"1","bed":"king"}`, 400, "unknown_field", "bed"},
	} {
		r := w.post(t, tc.token, "/v1/hotel/stays", tc.body)
		field := ""
		if errs, ok := r.JSON["errors"].([]any); ok && len(errs) > 0 {
			field = errs[0].(map[string]any)["field"].(string)
		}
		if r.Status != tc.status || r.Code() != tc.code || field != tc.field {
			t.Errorf("%s: %d %s, field %q; want %d %s %q", tc.name, r.Status, r.Code(), field, tc.status, tc.code, tc.field)
		}
	}
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/hotel/stays", Token: w.hotel, Body: stay(`[]`)}); r.Code() != "idempotency_key_required" {
		t.Errorf("without a key: %s", r.Body)
	}

	// The father, then later his daughter as a companion: the guardianship
	// holds across requests; the father cannot be added twice.
	opened := w.post(t, w.hotel, "/v1/hotel/stays", stay(fmt.Sprintf(`[{"code":%q}]`, w.code(t, dad, ""))))
	if opened.Status != http.StatusCreated {
		t.Fatalf("check-in: %d %s", opened.Status, opened.Body)
	}
	path := opened.Header.Get("Location")
	added := w.post(t, w.hotel, path+"/guests", fmt.Sprintf(`{"guests":[{"code":%q}]}`, w.code(t, dad, kid)))
	if added.Status != http.StatusCreated || added.JSON["guest_count"] != 2.0 {
		t.Fatalf("companion: %d %s", added.Status, added.Body)
	}
	if g := guests(added)[1]; g["minor"] != true || g["guardian_registration_id"] != guests(opened)[0]["registration_id"] {
		t.Errorf("the daughter %v, want her father's registration as guardian", g)
	}
	if r := w.post(t, w.hotel, path+"/guests", fmt.Sprintf(`{"guests":[{"code":%q}]}`, w.code(t, dad, ""))); r.Code() != "guest_already_registered" {
		t.Errorf("the father again: %d %s", r.Status, r.Body)
	}
	if r := w.post(t, w.hotel, path+"/check-out", `{"late":true}`); r.Code() != "unknown_field" {
		t.Errorf("check-out with a body: %s", r.Body)
	}
	if r := w.post(t, w.hotel, path+"/check-out", `{}`); r.Status != http.StatusOK {
		t.Fatalf("check-out: %d %s", r.Status, r.Body)
	}
	if r := w.post(t, w.hotel, path+"/check-out", ""); r.Status != http.StatusConflict || r.Code() != "stay_closed" {
		t.Errorf("second check-out: %d %s", r.Status, r.Body)
	}
	if r := w.post(t, w.hotel, path+"/guests", fmt.Sprintf(`{"guests":[{"code":%q}]}`, w.code(t, stranger, ""))); r.Code() != "stay_closed" {
		t.Errorf("a guest after check-out: %d %s", r.Status, r.Body)
	}
	// The refused stranger's code was not spent: stays are checked first.
	if r := w.get(t, w.api.Token("lodging-stranger", "resident"), "/v1/holders/me/access-log"); len(r.JSON["items"].([]any)) != 0 {
		t.Errorf("the stranger's access log: %s", r.Body)
	}
}

// TestAnIdempotentRetryAnswersTheSameStay: the desk's retry after a lost
// answer does not scan again (the code is spent) but gets the stay.
func TestAnIdempotentRetryAnswersTheSameStay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tok, _ := w.enroll(t, "lodging-retry", "钱多", "31010119880808001", "1988-08-08")
	req := apitest.Request{Method: "POST", Path: "/v1/hotel/stays", Token: w.hotel, Header: map[string]string{"Idempotency-Key": "desk-retry-1"},
		Body: fmt.Sprintf(`{"room":"12","check_out_date":%q,"guests":[{"code":%q}]}`, time.Now().Format(time.DateOnly), w.code(t, tok, ""))}
	first, again := w.api.Do(req), w.api.Do(req)
	if first.Status != http.StatusCreated || again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || again.JSON["stay_id"] != first.JSON["stay_id"] {
		t.Errorf("first %d %s; retry %d %s", first.Status, first.Body, again.Status, again.Body)
	}
}
