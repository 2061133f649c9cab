package subscriptions

import (
	"testing"

	"github.com/citycode/citycode/shared/dynamotest"
)

// newDB gives t the template's tables in DynamoDB Local and the name of
// its SubscriptionsTable.
func newDB(t *testing.T) (*dynamotest.Env, string) {
	t.Helper()
	db := dynamotest.New(t)
	return db, db.Tables["SubscriptionsTable"]
}

// newStore is a Store on a fresh SubscriptionsTable with the embedded
// policy.
func newStore(t *testing.T) (*Store, *dynamotest.Env) {
	t.Helper()
	db, table := newDB(t)
	policy, err := LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(db.Client, table, policy), db
}
