package holders

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Writes other capabilities put into their own transactions, so that what
// they change and what they record in a holder's items commit together.

// AccessWrite is the put of one access-log entry for holderID into the
// holders table, as AccessLog reads it. An empty EntryID gets a fresh one.
func AccessWrite(table, holderID string, e AccessEntry) (types.TransactWriteItem, error) {
	if e.EntryID == "" {
		e.EntryID = newID("acc")
	}
	it, err := item(holderPK(holderID), skAccess+e.At.UTC().Format(time.RFC3339Nano)+"#"+e.EntryID, e)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return putNew(table, it), nil
}
