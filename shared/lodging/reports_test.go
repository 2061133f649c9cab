package lodging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
