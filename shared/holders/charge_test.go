package holders_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/holders"
)

// A charge the account cannot pay (a ride already taken) is debited in
// full; the resident sees the debt on the account and the unpaid part on
// the ledger entry.
func TestAnUnpaidChargeShowsAsDebt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	api := apitest.New(t)
	tok, id := enroll(t, api, "debtor", 7)
	table := api.DB.Tables["HoldersTable"]
	store := holders.NewStore(api.DB.Client, table, nil)
	if _, err := store.TopUp(ctx, id, "top_debtor", 100); err != nil {
		t.Fatal(err)
	}
	acct, err := store.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	writes, _, err := holders.ChargeWrites(table, acct, holders.Charge{EntryID: "fare_debtor_1", Kind: "transit_fare", AmountFen: 400, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.DB.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes}); err != nil {
		t.Fatal(err)
	}
	account := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account", Token: tok})
	if account.JSON["balance_fen"] != float64(-300) || account.JSON["debt_fen"] != float64(300) {
		t.Errorf("account: %s; want a balance of -300 and a debt of 300", account.Body)
	}
	entries := api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/account/entries", Token: tok})
	items, _ := entries.JSON["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("entries: %s", entries.Body)
	}
	fare, topUp := items[0].(map[string]any), items[1].(map[string]any)
	if fare["kind"] != "transit_fare" || fare["amount_fen"] != float64(-400) || fare["unpaid_fen"] != float64(300) {
		t.Errorf("the fare's entry: %v; want -400 with 300 unpaid", fare)
	}
	if _, ok := topUp["unpaid_fen"]; ok {
		t.Errorf("the top-up's entry has unpaid_fen: %v", topUp)
	}
}
