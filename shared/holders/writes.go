package holders

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/citycode/citycode/shared/ddb"
)

// Writes other capabilities put into their own transactions, so that what
// they change and what they record in a holder's items commit together.

// AccessWrite is the put of one access-log entry for holderID into the
// holders table, as AccessLog reads it. An empty EntryID gets a fresh one.
func AccessWrite(table, holderID string, e AccessEntry) (types.TransactWriteItem, error) {
	if e.EntryID == "" {
		e.EntryID = newID("acc")
	}
	it, err := ddb.Item(holderPK(holderID), skAccess+TimeKey(e.At)+"#"+e.EntryID, e)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return ddb.PutNew(table, it), nil
}

// AccountKey is the key of holderID's account item in the holders table,
// for a capability that reads it in its own batch (AccountFromItem).
func AccountKey(holderID string) map[string]types.AttributeValue {
	return ddb.Key(holderPK(holderID), skAccount)
}

// AccountFromItem reads an account item, with its debt derived.
func AccountFromItem(it map[string]types.AttributeValue) (Account, error) {
	var a Account
	if err := attributevalue.UnmarshalMap(it, &a); err != nil {
		return Account{}, fmt.Errorf("unmarshal account: %w", err)
	}
	a.DebtFen = debtAt(a.BalanceFen, a.PostpaidLimitFen)
	return a, nil
}

// Charge is a debit another capability makes on a holder's account in its
// own transaction: a transit fare.
type Charge struct {
	// EntryID names the ledger entry; the caller makes it unique per charge
	// (and makes the charge itself single-use in its own items).
	EntryID   string
	Kind      string // the entry's kind, e.g. "transit_fare"
	AmountFen int64  // debited in full, > 0
	At        time.Time
}

// ChargeWrites are the writes that debit charges from acct, as read: one
// account update, conditional on acct.Version (so a concurrent top-up or
// charge cancels the caller's transaction at the first returned index, and
// the caller reads again and retries), then one ledger entry per charge.
// Every charge is taken in full, so the balance stays the sum of the
// ledger; an entry's UnpaidFen is what the balance and the post-paid limit
// could not cover, which the account then shows as debt until a top-up
// pays it.
func ChargeWrites(table string, acct Account, charges ...Charge) ([]types.TransactWriteItem, []Entry, error) {
	if len(charges) == 0 {
		return nil, nil, errors.New("holders: no charge")
	}
	pk := holderPK(acct.HolderID)
	balance := acct.BalanceFen
	writes := []types.TransactWriteItem{{}} // the account update, below
	entries := make([]Entry, 0, len(charges))
	var last time.Time
	for _, c := range charges {
		if c.AmountFen <= 0 || c.EntryID == "" || c.Kind == "" {
			return nil, nil, errors.New("holders: a charge needs an entry id, a kind and a positive amount")
		}
		at := c.At.UTC()
		after := balance - c.AmountFen
		e := Entry{EntryID: c.EntryID, Kind: c.Kind, AmountFen: -c.AmountFen, BalanceAfterFen: after, CreatedAt: at,
			UnpaidFen: debtAt(after, acct.PostpaidLimitFen) - debtAt(balance, acct.PostpaidLimitFen)}
		ledger, err := ddb.Item(pk, skLedger+TimeKey(at)+"#"+c.EntryID, e)
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, ddb.PutNew(table, ledger))
		entries = append(entries, e)
		balance, last = after, at
	}
	writes[0] = accountUpdate(table, acct, balance, last)
	return writes, entries, nil
}

// Credit is money another capability gives back to a holder's account in
// its own transaction: a transit fare repriced lower.
type Credit struct {
	// EntryID names the ledger entry; the caller makes the credit itself
	// single-use in its own items.
	EntryID   string
	Kind      string // the entry's kind, e.g. "transit_refund"
	AmountFen int64  // credited in full, > 0
	At        time.Time
}

// CreditWrites are the writes that credit c to acct, as read: the account
// update, conditional on acct.Version (first, as in ChargeWrites), then the
// ledger entry, with a positive amount. Like a top-up it raises the
// balance, so it pays off any debt first (debt is derived from the
// balance).
func CreditWrites(table string, acct Account, c Credit) ([]types.TransactWriteItem, Entry, error) {
	if c.AmountFen <= 0 || c.EntryID == "" || c.Kind == "" {
		return nil, Entry{}, errors.New("holders: a credit needs an entry id, a kind and a positive amount")
	}
	at := c.At.UTC()
	e := Entry{EntryID: c.EntryID, Kind: c.Kind, AmountFen: c.AmountFen, BalanceAfterFen: acct.BalanceFen + c.AmountFen, CreatedAt: at}
	ledger, err := ddb.Item(holderPK(acct.HolderID), skLedger+TimeKey(at)+"#"+c.EntryID, e)
	if err != nil {
		return nil, Entry{}, err
	}
	return []types.TransactWriteItem{accountUpdate(table, acct, e.BalanceAfterFen, at), ddb.PutNew(table, ledger)}, e, nil
}

// accountUpdate sets acct's balance, on condition of the version read.
func accountUpdate(table string, acct Account, balance int64, at time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: ddb.Key(holderPK(acct.HolderID), skAccount),
		UpdateExpression:    aws.String("SET balance_fen = :bal, version = :next, updated_at = :now"),
		ConditionExpression: aws.String("version = :version"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":bal": ddb.N(balance), ":next": ddb.N(acct.Version + 1), ":version": ddb.N(acct.Version),
			":now": ddb.S(at.Format(time.RFC3339Nano)),
		},
	}}
}
