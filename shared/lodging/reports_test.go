package lodging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/lodging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/webhooks"
)

// TestOverdueReports: registrations typed in late, past their deadline
// (24 h for a foreign guest, 2 h for a domestic one) and never received by
// the police, show in the hotel's overdue list, oldest first, and in the
// scheduled job's metric; a receipt takes a report off both, and the stay
// shows it delivered late.
func TestOverdueReports(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tok, _ := w.enroll(t, "lodging-late", "吴迟", "31010119700707001", "1970-07-07")
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	checkIn := func(ago time.Duration, guest string) lodgingStay {
		t.Helper()
		r := w.post(t, w.hotel, "/v1/hotel/stays", fmt.Sprintf(`{"room":"5","check_out_date":%q,"checked_in_at":%q,"guests":[%s]}`,
			tomorrow, time.Now().Add(-ago).UTC().Format(time.RFC3339), guest))
		if r.Status != http.StatusCreated {
			t.Fatalf("check-in %s ago: %d %s", ago, r.Status, r.Body)
		}
		return lodgingStay{path: r.Header.Get("Location"), reg: guests(r)[0]["registration_id"].(string)}
	}
	foreign := checkIn(30*time.Hour, fmt.Sprintf(`{"code":%q,"registration":{"name":"Jean Dupont","document_type":"passport","document_number":"18AB12345","date_of_birth":"1979-12-01","nationality":"FRA"}}`, w.peerCode(t)))
	domestic := checkIn(3*time.Hour, fmt.Sprintf(`{"code":%q}`, w.code(t, tok, "")))
	checkIn(0, fmt.Sprintf(`{"code":%q,"registration":{"name":"Mia Braun","document_type":"passport","document_number":"C01X00T47","date_of_birth":"1990-01-01","nationality":"DEU"}}`, w.peerCode(t)))
	if r := w.post(t, w.hotel, "/v1/hotel/stays", fmt.Sprintf(`{"room":"5","check_out_date":%q,"checked_in_at":%q,"guests":[{"code":"CC1:X"}]}`,
		tomorrow, time.Now().Add(-49*time.Hour).UTC().Format(time.RFC3339))); r.Code() != "validation_failed" {
		t.Errorf("a check-in 49 h ago: %s", r.Body)
	}

	overdue := func() []string {
		t.Helper()
		r := w.get(t, w.hotel, "/v1/hotel/reports/overdue")
		if r.Status != http.StatusOK {
			t.Fatalf("overdue: %d %s", r.Status, r.Body)
		}
		var regs []string
		for _, it := range r.JSON["items"].([]any) {
			o := it.(map[string]any)
			regs = append(regs, o["registration_id"].(string)+"/"+o["kind"].(string))
		}
		return regs
	}
	if diff := cmp.Diff([]string{foreign.reg + "/registered", domestic.reg + "/registered"}, overdue()); diff != "" {
		t.Errorf("overdue list (-want +got):\n%s", diff)
	}
	if r := w.get(t, w.other, "/v1/hotel/reports/overdue"); len(r.JSON["items"].([]any)) != 0 {
		t.Errorf("another hotel's overdue list: %s", r.Body)
	}

	// The scheduled job, as Lambda builds it from the template's environment.
	env := w.api.DB.AppEnv(t, "LodgingReportsFunction")
	cfg, err := lodging.ConfigFrom(env)
	if err != nil {
		t.Fatal(err)
	}
	db := w.api.DB.Client
	store := lodging.NewStore(db, cfg.LodgingTable, "", nil, webhooks.NewReceiptStore(db, cfg.ReceiptsTable, nil), cfg.Policy)
	metric := func() float64 {
		t.Helper()
		var out bytes.Buffer
		if _, err := lodging.NewReporter(store, &out, slog.New(slog.DiscardHandler)).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		var line struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace string
					Metrics   []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Overdue float64 `json:"OverdueReports"`
			Oldest  float64 `json:"OldestOverdueSeconds"`
		}
		if err := json.Unmarshal(out.Bytes(), &line); err != nil {
			t.Fatalf("metric line %q: %v", out.String(), err)
		}
		if m := line.AWS.CloudWatchMetrics; len(m) != 1 || m[0].Namespace != "citycode/lodging" || len(m[0].Metrics) != 2 || m[0].Metrics[0].Name != "OverdueReports" {
			t.Errorf("EMF metadata %+v", line.AWS)
		}
		if line.Overdue > 0 && line.Oldest < 6*3600-120 {
			t.Errorf("oldest overdue %v s, want about 6 h (the foreign guest's)", line.Oldest)
		}
		return line.Overdue
	}
	if n := metric(); n != 2 {
		t.Errorf("OverdueReports = %v, want 2", n)
	}

	// The police's receipt of the domestic guest's report arrives late.
	receipts := webhooks.NewReceiptStore(db, cfg.ReceiptsTable, []string{"city.lodging.*"})
	if err := receipts.Record(t.Context(), cfg.Policy.ReportTo, "sub_test", outbox.Envelope{ID: "evt-late", Type: lodging.TypeRegistered, Subject: domestic.reg}, time.Now(), 3); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{foreign.reg + "/registered"}, overdue()); diff != "" {
		t.Errorf("overdue list after the receipt (-want +got):\n%s", diff)
	}
	if n := metric(); n != 1 {
		t.Errorf("OverdueReports after the receipt = %v, want 1", n)
	}
	reports := guests(w.get(t, w.hotel, domestic.path))[0]["reports"].([]any)
	if r := reports[0].(map[string]any); r["status"] != "delivered" || r["on_time"] != false {
		t.Errorf("the late report: %v", r)
	}
}

type lodgingStay struct{ path, reg string }

// TestDeliveryOutlivesReceipt: a receipt expires 30 days after delivery,
// a stay is kept months; lodging records each report's delivery on the
// registration when it learns of the receipt — settling the trackers (the
// scheduled job, also for a tracker written before trackers named their
// registration item) or answering the stay — so with the receipt gone
// (deleted here, standing in for its TTL) the stay still shows the report
// delivered and whether on time. The record is written once (a later
// receipt does not replace it) and leaves the registration's expiry as it
// was; a report never delivered stays overdue.
func TestDeliveryOutlivesReceipt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	env := w.api.DB.AppEnv(t, "LodgingReportsFunction")
	cfg, err := lodging.ConfigFrom(env)
	if err != nil {
		t.Fatal(err)
	}
	db := w.api.DB.Client
	job := lodging.NewReporter(lodging.NewStore(db, cfg.LodgingTable, "", nil, webhooks.NewReceiptStore(db, cfg.ReceiptsTable, nil), cfg.Policy),
		io.Discard, slog.New(slog.DiscardHandler))
	receipts := webhooks.NewReceiptStore(db, cfg.ReceiptsTable, []string{"city.lodging.*"})
	receive := func(reg string, at time.Time) {
		t.Helper()
		if err := receipts.Record(t.Context(), cfg.Policy.ReportTo, "sub_test", outbox.Envelope{ID: "evt-" + reg, Type: lodging.TypeRegistered, Subject: reg}, at, 1); err != nil {
			t.Fatal(err)
		}
	}
	expire := func(reg string) { // the receipt's TTL
		t.Helper()
		if _, err := db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(cfg.ReceiptsTable),
			Key: ddb.Key("RECEIPT#"+reg, lodging.TypeRegistered+"#"+cfg.Policy.ReportTo)}); err != nil {
			t.Fatal(err)
		}
	}
	runJob := func() {
		t.Helper()
		if _, err := job.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	type opened struct {
		path, stayID, reg, holder string
		checkedIn                 time.Time
	}
	checkIn := func(ago time.Duration, guest string) opened {
		t.Helper()
		at := time.Now().Add(-ago).UTC().Truncate(time.Second)
		r := w.post(t, w.hotel, "/v1/hotel/stays", fmt.Sprintf(`{"room":"7","check_out_date":%q,"checked_in_at":%q,"guests":[%s]}`,
			tomorrow, at.Format(time.RFC3339), guest))
		if r.Status != http.StatusCreated {
			t.Fatalf("check-in %s ago: %d %s", ago, r.Status, r.Body)
		}
		g := guests(r)[0]
		holder, _ := g["holder_id"].(string)
		return opened{r.Header.Get("Location"), r.JSON["stay_id"].(string), g["registration_id"].(string), holder, at}
	}
	resident := func(sub, first17 string) string {
		tok, _ := w.enroll(t, sub, "住客", first17, "1980-02-02")
		return fmt.Sprintf(`{"code":%q}`, w.code(t, tok, ""))
	}
	registered := func(st opened) map[string]any {
		t.Helper()
		r := w.get(t, w.hotel, st.path)
		if r.Status != http.StatusOK {
			t.Fatalf("stay: %d %s", r.Status, r.Body)
		}
		return guests(r)[0]["reports"].([]any)[0].(map[string]any)
	}
	item := func(st opened) map[string]types.AttributeValue {
		t.Helper()
		out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(cfg.LodgingTable),
			Key: ddb.Key("STAY#"+st.stayID, "GUEST#H#"+st.holder), ConsistentRead: aws.Bool(true)})
		if err != nil || out.Item == nil {
			t.Fatalf("registration item of %s: %v", st.reg, err)
		}
		return out.Item
	}
	wantDelivered := func(what string, st opened, at time.Time, onTime bool) {
		t.Helper()
		r := registered(st)
		if r["status"] != "delivered" || r["on_time"] != onTime || r["delivered_at"] != at.UTC().Format(time.RFC3339Nano) {
			t.Errorf("%s: %v, want delivered at %s, on_time %v", what, r, at.UTC().Format(time.RFC3339Nano), onTime)
		}
	}

	// Delivered on time (a minute after check-in, due in 2 h); the stay is
	// read while the receipt exists, which records the delivery.
	onTime := checkIn(3*time.Hour, resident("lodging-durable-1", "31010119800202101"))
	before := item(onTime)["expires_at"]
	first := onTime.checkedIn.Add(time.Minute)
	receive(onTime.reg, first)
	wantDelivered("on time, receipt there", onTime, first, true)
	after := item(onTime)
	if diff := cmp.Diff(before, after["expires_at"], cmpopts.IgnoreUnexported(types.AttributeValueMemberN{})); diff != "" {
		t.Errorf("registration expires_at changed by the record (-before +after):\n%s", diff)
	}
	if _, ok := after["registered_delivery"]; !ok {
		t.Errorf("no registered_delivery on the registration item: %v", after)
	}
	// The receipt expires; a later one (a replay) comes; the job settles
	// the trackers with it: the first delivery stands.
	expire(onTime.reg)
	receive(onTime.reg, time.Now())
	runJob()
	expire(onTime.reg)
	wantDelivered("on time, receipt gone", onTime, first, true)

	// Delivered late; the job settles the trackers, and the stay is read
	// only after the receipt is gone. Its trackers are as written before
	// trackers named the registration item.
	late := checkIn(3*time.Hour, resident("lodging-durable-2", "31010119800202102"))
	for _, pk := range []string{"PENDING#hotel-demo", "PENDING"} {
		sk := late.checkedIn.Add(2*time.Hour).Format("2006-01-02T15:04:05.000000000Z") + "#" + late.reg + "#registered"
		if _, err := db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(cfg.LodgingTable), Key: ddb.Key(pk, sk),
			UpdateExpression: aws.String("REMOVE guest_sk"), ConditionExpression: aws.String("attribute_exists(guest_sk)")}); err != nil {
			t.Fatalf("tracker %s %s: %v", pk, sk, err)
		}
	}
	lateAt := time.Now().UTC()
	receive(late.reg, lateAt)
	runJob()
	expire(late.reg)
	wantDelivered("late, receipt gone", late, lateAt, false)

	// Never delivered: overdue, receipt or not.
	never := checkIn(30*time.Hour, fmt.Sprintf(`{"code":%q,"registration":{"name":"Jean Dupont","document_type":"passport","document_number":"18AB12399","date_of_birth":"1979-12-01","nationality":"FRA"}}`, w.peerCode(t)))
	runJob()
	if r := registered(never); r["status"] != "overdue" || r["delivered_at"] != nil || r["on_time"] != nil {
		t.Errorf("never delivered: %v", r)
	}
	var listed []string
	for _, it := range w.get(t, w.hotel, "/v1/hotel/reports/overdue").JSON["items"].([]any) {
		listed = append(listed, it.(map[string]any)["registration_id"].(string))
	}
	if diff := cmp.Diff([]string{never.reg}, listed); diff != "" {
		t.Errorf("overdue list (-want +got):\n%s", diff)
	}

	// The check-out's update of the registration keeps the delivery.
	if r := w.post(t, w.hotel, onTime.path+"/check-out", ""); r.Status != http.StatusOK {
		t.Fatalf("check-out: %d %s", r.Status, r.Body)
	}
	wantDelivered("on time, after check-out", onTime, first, true)
}
