// Package holders is the resident's side of citycode: enrollment with an
// identity document, dependants managed by a guardian, the prepaid account
// and the log of who accessed the holder's data. See infra/holders.md.
package holders

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/ddb"
)

// Sentinel errors of the capability; api.go maps them to answers.
var (
	ErrNotEnrolled       = errors.New("holders: caller not enrolled")
	ErrAlreadyEnrolled   = errors.New("holders: login already enrolled")
	ErrDocumentTaken     = errors.New("holders: document already enrolled")
	ErrDependantNotFound = errors.New("holders: no such dependant")
	ErrNotActive         = errors.New("holders: holder not active")
	ErrTooManyDependants = errors.New("holders: too many dependants")
	ErrConcurrentUpdate  = errors.New("holders: account busy, try again")
	errCorruptCursor     = ddb.ErrCorruptCursor // a cursor Entries or AccessLog did not give out
)

// Statuses of a holder.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// MaxDependants is how many dependants one guardian may manage.
const MaxDependants = 10

// Holder is one person with a code: a resident or a dependant.
type Holder struct {
	ID             string    `dynamodbav:"holder_id"`
	Name           string    `dynamodbav:"name"`
	DocumentType   string    `dynamodbav:"document_type"`
	DocumentNumber string    `dynamodbav:"document_number"`
	DateOfBirth    string    `dynamodbav:"date_of_birth"`
	Nationality    string    `dynamodbav:"nationality"`
	Status         string    `dynamodbav:"status"`
	GuardianID     string    `dynamodbav:"guardian_id,omitempty"`
	Relationship   string    `dynamodbav:"-"`
	CreatedAt      time.Time `dynamodbav:"created_at"`
}

// Account is a holder's prepaid balance in fen, with an optional post-paid
// limit: the balance may go down to -PostpaidLimitFen. A charge is always
// recorded in full (the balance is the sum of the ledger); what the balance
// and the limit together cannot cover is the account's debt.
type Account struct {
	HolderID         string `dynamodbav:"holder_id"`
	BalanceFen       int64  `dynamodbav:"balance_fen"`
	PostpaidLimitFen int64  `dynamodbav:"postpaid_limit_fen"`
	// DebtFen is derived, never stored: max(0, -(balance + limit)), so a
	// top-up pays it off by raising the balance.
	DebtFen   int64     `dynamodbav:"-"`
	Version   int64     `dynamodbav:"version"`
	UpdatedAt time.Time `dynamodbav:"updated_at"`
}

// MaxPostpaidLimitFen is the largest post-paid limit (1,000 yuan).
const MaxPostpaidLimitFen = 100_000

// debtAt is the debt of an account with balance and limit: what is owed
// beyond the limit.
func debtAt(balance, limit int64) int64 { return max(0, -(balance + limit)) }

// MayTravel reports whether the account may start a ride: its balance plus
// its post-paid limit is above zero (qr-verify's may_travel claim, which
// reads the same items; see qrverify.Holder.MayTravel).
func (a Account) MayTravel() bool { return a.BalanceFen+a.PostpaidLimitFen > 0 }

// Entry is one line of an account's ledger.
type Entry struct {
	EntryID         string `dynamodbav:"entry_id"`
	Kind            string `dynamodbav:"kind"`
	AmountFen       int64  `dynamodbav:"amount_fen"`
	BalanceAfterFen int64  `dynamodbav:"balance_after_fen"`
	// UnpaidFen is the part of a charge that the balance and the post-paid
	// limit could not cover: it became debt.
	UnpaidFen int64     `dynamodbav:"unpaid_fen,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

// AccessEntry is one access to a holder's data, written by the capability
// that released it (qr-verify, cert-lookup, …).
type AccessEntry struct {
	EntryID      string    `dynamodbav:"entry_id"`
	At           time.Time `dynamodbav:"at"`
	Organisation string    `dynamodbav:"organisation"`
	Actor        string    `dynamodbav:"actor"`
	Purpose      string    `dynamodbav:"purpose"`
	What         []string  `dynamodbav:"what"`
	Outcome      string    `dynamodbav:"outcome"`
	// Reason is why a read was refused (a stable code); empty otherwise.
	Reason string `dynamodbav:"reason,omitempty"`
}

// Page is one page of a newest-first listing and the cursor of the next.
type Page[T any] = ddb.Page[T]

// newID returns prefix_ and 26 random base32 characters.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// MaskedDocumentNumber shows only enough of the number to recognise it.
func (h Holder) MaskedDocumentNumber() string {
	n := h.DocumentNumber
	keepHead := 0
	if h.DocumentType == DocResidentID {
		keepHead = 4
	}
	if len(n) < keepHead+8 {
		return strings.Repeat("*", len(n))
	}
	return n[:keepHead] + strings.Repeat("*", len(n)-keepHead-4) + n[len(n)-4:]
}
