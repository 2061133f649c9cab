package holders_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
)

// A credit (a transit refund) raises the balance, so it pays off debt
// first; it is written once on the version read, and a credit computed on
// an older version is cancelled; a credit needs an entry id, a kind and a
// positive amount.
func TestACreditPaysOffDebtFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	api := apitest.New(t)
	tok, id := enroll(t, api, "refunded", 8)
	table := api.DB.Tables["HoldersTable"]
	store := holders.NewStore(api.DB.Client, table, nil)
	if _, err := store.TopUp(ctx, id, "top_refunded", 100); err != nil {
		t.Fatal(err)
	}
	acct, err := store.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	charge, _, err := holders.ChargeWrites(table, acct, holders.Charge{EntryID: "fare_refunded", Kind: "transit_fare", AmountFen: 600, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.DB.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: charge}); err != nil {
		t.Fatal(err)
	}
	stale := acct
	if acct, err = store.Account(ctx, id); err != nil || acct.DebtFen != 500 {
		t.Fatalf("after the charge: %+v, %v; want a debt of 500", acct, err)
	}

	for _, bad := range []holders.Credit{
		{Kind: "transit_refund", AmountFen: 1},
		{EntryID: "refund_x", AmountFen: 1},
		{EntryID: "refund_x", Kind: "transit_refund"},
		{EntryID: "refund_x", Kind: "transit_refund", AmountFen: -5},
	} {
		if _, _, err := holders.CreditWrites(table, acct, bad); err == nil {
			t.Errorf("CreditWrites(%+v) = nil error; want refused", bad)
		}
	}

	credit := holders.Credit{EntryID: "refund_refunded", Kind: "transit_refund", AmountFen: 300, At: time.Now()}
	old, _, err := holders.CreditWrites(table, stale, credit)
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.DB.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: old})
	if failed := ddb.Cancelled(err); !failed[0] {
		t.Errorf("a credit on the version before the charge: %v; want cancelled on the account", err)
	}
	writes, e, err := holders.CreditWrites(table, acct, credit)
	if err != nil {
		t.Fatal(err)
	}
	if e.AmountFen != 300 || e.BalanceAfterFen != -200 || e.UnpaidFen != 0 {
		t.Errorf("entry %+v; want +300 to a balance of -200", e)
	}
	if _, err := api.DB.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes}); err != nil {
		t.Fatal(err)
	}
	account := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account", Token: tok})
	if account.JSON["balance_fen"] != float64(-200) || account.JSON["debt_fen"] != float64(200) {
		t.Errorf("account: %s; want a balance of -200 and a debt of 200", account.Body)
	}
	entries := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account/entries", Token: tok})
	items, _ := entries.JSON["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("entries: %s", entries.Body)
	}
	if refund := items[0].(map[string]any); refund["kind"] != "transit_refund" || refund["amount_fen"] != float64(300) ||
		refund["balance_after_fen"] != float64(-200) {
		t.Errorf("the refund's entry: %v; want +300 to -200", refund)
	}
}
