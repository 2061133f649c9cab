package holders

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// TestEntriesInOneSecondListNewestFirst: ledger and access-log entries a
// fraction of a second apart (a whole second, .1, .12, .5) list newest
// first, which keys with RFC 3339 nano times would not do ("09Z" sorts
// after "09.5Z", ".1Z" after ".12Z").
func TestEntriesInOneSecondListNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	h, err := s.Enroll(ctx, "sub-sortkey", adult(901))
	if err != nil {
		t.Fatal(err)
	}
	acct, err := s.Account(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 22, 8, 1, 9, 0, time.UTC)
	offsets := []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, 500 * time.Millisecond}
	var charges []Charge
	var writes []types.TransactWriteItem
	for i, d := range offsets {
		at := base.Add(d)
		charges = append(charges, Charge{EntryID: "fare_" + string(rune('a'+i)), Kind: "transit_fare", AmountFen: 1, At: at})
		w, err := AccessWrite(s.table, h.ID, AccessEntry{At: at, Organisation: "org", Actor: "gate", Purpose: "transit", What: []string{"name"}, Outcome: "released"})
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	debits, _, err := ChargeWrites(s.table, acct, charges...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(writes, debits...)}); err != nil {
		t.Fatal(err)
	}

	var want []time.Time
	for i := len(offsets) - 1; i >= 0; i-- {
		want = append(want, base.Add(offsets[i]))
	}
	ledger, err := s.Entries(ctx, h.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	access, err := s.AccessLog(ctx, h.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var gotLedger, gotAccess []time.Time
	for _, e := range ledger.Items {
		gotLedger = append(gotLedger, e.CreatedAt)
	}
	for _, e := range access.Items {
		gotAccess = append(gotAccess, e.At)
	}
	if diff := cmp.Diff(want, gotLedger); diff != "" {
		t.Errorf("ledger times, newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, gotAccess); diff != "" {
		t.Errorf("access-log times, newest first (-want +got):\n%s", diff)
	}
}
