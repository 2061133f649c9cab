package webhooks

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
)

// TestReceiptsOfAcceptedEvents: an event of a receipted type gets a
// receipt when the endpoint accepts it (here on the second attempt, from
// the retry queue), keyed by subject, type and the receiving organisation;
// an event of another type gets none; a duplicate delivery keeps the
// first receipt.
func TestReceiptsOfAcceptedEvents(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	store := NewReceiptStore(db.Client, db.Tables["DeliveryReceiptsTable"], ParseReceiptTypes(" city.lodging.* , city.other.exact.v1"))
	w := newWorld(t, nil)
	w.d.Receipts = store
	rc := &Receiver{FailFirst: 1}
	sub := subscription("sub_police", serve(t, rc))
	sub.Types = []string{"city.holder.*", "city.lodging.*"}
	w.subs.subs[sub.ID] = sub
	t0 := w.clock.Now()
	report := envelope("0199a8f0-0000-7000-8000-00000000000a", "city.lodging.guest.registered.v1", "reg_1", 1, t0)
	report.Source = "/citycode/lodging"
	enrolled := envelope("0199a8f0-0000-7000-8000-00000000000b", "city.holder.enrolled.v1", "hdr_1", 1, t0)

	handle(t, w.d, bridgeMessage(t, report))
	keys := []ReceiptKey{{"reg_1", report.Type, "police-demo"}, {"hdr_1", enrolled.Type, "police-demo"}, {"reg_1", report.Type, "another-org"}}
	if got, err := store.Received(t.Context(), keys); err != nil || len(got) != 0 {
		t.Fatalf("after a refused attempt: %v, %v; want no receipt", got, err)
	}
	if retries := w.retries(t); len(retries) != 1 {
		t.Fatalf("%d retries, want 1", len(retries))
	}
	handle(t, w.d, bridgeMessage(t, enrolled))
	got, err := store.Received(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[ReceiptKey]Receipt{keys[0]: {EventID: report.ID, SubscriptionID: "sub_police", DeliveredAt: w.clock.Now(), Attempt: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}

	// A duplicate delivery later: the first receipt stands.
	w.clock.Set(t0.Add(time.Hour))
	handle(t, w.d, bridgeMessage(t, report))
	if again, err := store.Received(t.Context(), keys[:1]); err != nil || !again[keys[0]].DeliveredAt.Equal(want[keys[0]].DeliveredAt) {
		t.Errorf("after a duplicate: %v, %v; want the first receipt", again, err)
	}
	if got := len(rc.Received()); got != 4 {
		t.Errorf("the endpoint got %d requests, want 4 (refused, accepted, enrollment, duplicate)", got)
	}
}

func TestReceiptConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DELIVERY_RETRY_QUEUE_URL": "http://q", "SUBSCRIPTIONS_TABLE": "subs", "EVENTS_TABLE": "events"}
	for _, tc := range []struct {
		table, types string
		ok           bool
		want         []string
	}{
		{"", "", true, nil},
		{"receipts", "city.lodging.*,city.x.v1", true, []string{"city.lodging.*", "city.x.v1"}},
		{"receipts", "", false, nil},
		{"", "city.lodging.*", false, nil},
	} {
		env := map[string]string{"RECEIPTS_TABLE": tc.table, "RECEIPT_TYPES": tc.types}
		for k, v := range base {
			env[k] = v
		}
		c, err := ConfigFrom(func(k string) string { return env[k] })
		if (err == nil) != tc.ok || (err == nil && (c.ReceiptsTable != tc.table || !cmp.Equal(c.ReceiptTypes, tc.want))) {
			t.Errorf("RECEIPTS_TABLE=%q RECEIPT_TYPES=%q: %+v, %v", tc.table, tc.types, c, err)
		}
	}
}
