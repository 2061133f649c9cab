// Package medical is the code as social security card: a hospital scans a
// patient's code to open a visit and settles the visit's bills, a pharmacy
// sells with the code, and each bill is split between the insurance fund,
// the personal account and cash by the policy engine (shared/medpolicy).
// The running totals, the personal account, the settlement and its event
// are written in one transaction, once per provider's bill id. See
// infra/medical.md.
package medical

import (
	"errors"
	"time"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/medpolicy"
)

// Sentinel errors of the capability; api.go maps them to answers.
var (
	ErrNotInsured         = errors.New("medical: no insurance profile")
	ErrProfileExists      = errors.New("medical: insurance profile exists")
	ErrVisitNotFound      = errors.New("medical: no such visit")
	ErrSettlementNotFound = errors.New("medical: no such settlement")
	ErrBillReused         = errors.New("medical: bill id settled with another bill")
	ErrReplayed           = errors.New("medical: code already accepted")
	ErrBusy               = errors.New("medical: profile busy")
	ErrVisitClosed        = errors.New("medical: visit expired or closed")
	ErrHolderNotActive    = errors.New("medical: holder not active")
	ErrHolderNotFound     = errors.New("medical: no such holder")
	ErrCreditReused       = errors.New("medical: credit key used for another credit")
	ErrBalanceLimit       = errors.New("medical: personal account above its limit")
	errCorruptCursor      = ddb.ErrCorruptCursor // a cursor Settlements did not give out
)

// Settlement statuses.
const (
	StatusCompleted = "completed"
	StatusReversed  = "reversed"
)

// Totals are a member's running totals of one calendar year.
type Totals struct {
	Year                       int   `dynamodbav:"year"`
	OutpatientDeductibleMetFen int64 `dynamodbav:"outpatient_deductible_met_fen"`
	InpatientDeductibleMetFen  int64 `dynamodbav:"inpatient_deductible_met_fen"`
	FundPaidFen                int64 `dynamodbav:"fund_paid_fen"`
}

// Profile is a holder's medical insurance: scheme, personal account and
// this year's totals. Every write is conditional on Version.
type Profile struct {
	HolderID string `dynamodbav:"holder_id"`
	Scheme   string `dynamodbav:"scheme"`
	Retired  bool   `dynamodbav:"retired"`
	// City is the insured city ("sh"), whose policies apply; only its
	// providers settle for the member.
	City               string    `dynamodbav:"insured_city"`
	PersonalAccountFen int64     `dynamodbav:"personal_account_fen"`
	Totals             Totals    `dynamodbav:"totals"`
	Version            int64     `dynamodbav:"version"`
	UpdatedAt          time.Time `dynamodbav:"updated_at"`
}

func (p Profile) member() medpolicy.Member {
	return medpolicy.Member{Scheme: medpolicy.Scheme(p.Scheme), Retired: p.Retired, PersonalAccountFen: p.PersonalAccountFen,
		Totals: medpolicy.Totals(p.Totals)}
}

// Identity is what the social security bureau says of a member: the
// scheme, retired or not, and the insured city.
type Identity struct {
	Scheme  string
	Retired bool
	City    string
}

func (p Profile) identity() Identity {
	return Identity{Scheme: p.Scheme, Retired: p.Retired, City: p.City}
}

// Credit is the social security bureau's credit to a member's personal
// account (the yearly or monthly allocation), applied once per ID.
type Credit struct {
	ID        string `dynamodbav:"credit_id"`
	HolderID  string `dynamodbav:"holder_id"`
	AmountFen int64  `dynamodbav:"amount_fen"`
	// Reference is the bureau's own reference for the credit (optional).
	Reference       string    `dynamodbav:"reference,omitempty"`
	BalanceAfterFen int64     `dynamodbav:"balance_after_fen"`
	By              string    `dynamodbav:"by"` // the bureau's organisation
	At              time.Time `dynamodbav:"credited_at"`
}

// How long a visit takes bills: an outpatient visit for a day after the
// scan; an inpatient one until its final (discharge) bill closes it, and
// at most InpatientVisitFor, so that a stay whose discharge was never
// billed does not stay open for ever.
const (
	OutpatientVisitFor = 24 * time.Hour
	InpatientVisitFor  = 180 * 24 * time.Hour
)

// Visit is a patient's registration at a hospital: opened by a scan of the
// patient's code, it lets that hospital, and no other, settle bills for
// the patient until it expires or its final bill closes it.
type Visit struct {
	ID       string    `dynamodbav:"visit_id"`
	Org      string    `dynamodbav:"org"`
	HolderID string    `dynamodbav:"holder_id"`
	Type     string    `dynamodbav:"visit_type"`
	OpenedAt time.Time `dynamodbav:"opened_at"`
	OpenedBy string    `dynamodbav:"opened_by"`
	// ExpiresAt (epoch seconds in the table, for conditions) ends the
	// visit's bills.
	ExpiresAt time.Time `dynamodbav:"expires_at,unixtime"`
	// ClosedAt is when the visit's final bill closed it.
	ClosedAt *time.Time `dynamodbav:"closed_at,omitempty"`
}

// open reports whether the visit takes bills at t.
func (v Visit) open(t time.Time) bool { return v.ClosedAt == nil && t.Before(v.ExpiresAt) }

// Amounts are the FHIR ClaimResponse adjudication of a line or a bill, in
// fen.
type Amounts struct {
	Submitted       int64 `json:"submitted" dynamodbav:"submitted"`
	SelfPay         int64 `json:"self_pay" dynamodbav:"self_pay"`
	Eligible        int64 `json:"eligible" dynamodbav:"eligible"`
	Deductible      int64 `json:"deductible" dynamodbav:"deductible"`
	Copay           int64 `json:"copay" dynamodbav:"copay"`
	Benefit         int64 `json:"benefit" dynamodbav:"benefit"`
	PersonalAccount int64 `json:"personal_account" dynamodbav:"personal_account"`
	Cash            int64 `json:"cash" dynamodbav:"cash"`
}

func (a Amounts) plus(b Amounts) Amounts {
	return Amounts{Submitted: a.Submitted + b.Submitted, SelfPay: a.SelfPay + b.SelfPay, Eligible: a.Eligible + b.Eligible,
		Deductible: a.Deductible + b.Deductible, Copay: a.Copay + b.Copay, Benefit: a.Benefit + b.Benefit,
		PersonalAccount: a.PersonalAccount + b.PersonalAccount, Cash: a.Cash + b.Cash}
}

// consistent reports whether a's parts add up as ClaimResponse's do.
func (a Amounts) consistent() bool {
	nonNegative := a.Submitted >= 0 && a.SelfPay >= 0 && a.Eligible >= 0 && a.Deductible >= 0 && a.Copay >= 0 &&
		a.Benefit >= 0 && a.PersonalAccount >= 0 && a.Cash >= 0
	return nonNegative && a.Submitted == a.Benefit+a.PersonalAccount+a.Cash && a.Eligible == a.Submitted-a.SelfPay &&
		a.Eligible == a.Deductible+a.Copay+a.Benefit
}

// Line is one line of a bill with its adjudication.
type Line struct {
	Sequence     int     `dynamodbav:"sequence"`
	ItemCode     string  `dynamodbav:"item_code"`
	Category     string  `dynamodbav:"category"`
	Quantity     int64   `dynamodbav:"quantity"`
	AmountFen    int64   `dynamodbav:"amount_fen"`
	Adjudication Amounts `dynamodbav:"adjudication"`
}

// Changes are exactly what a settlement changed in its member's profile,
// which its reversal gives back.
type Changes struct {
	Year                    int   `dynamodbav:"year"`
	OutpatientDeductibleFen int64 `dynamodbav:"outpatient_deductible_fen"`
	InpatientDeductibleFen  int64 `dynamodbav:"inpatient_deductible_fen"`
	FundPaidFen             int64 `dynamodbav:"fund_paid_fen"`
	PersonalAccountFen      int64 `dynamodbav:"personal_account_fen"`
}

// Reversal records a settlement's reversal.
type Reversal struct {
	ID     string    `dynamodbav:"reversal_id"`
	Reason string    `dynamodbav:"reason"`
	At     time.Time `dynamodbav:"reversed_at"`
}

// Settlement is a settled bill: a hospital's bill on a visit, or a
// pharmacy's sale.
type Settlement struct {
	ID           string    `dynamodbav:"settlement_id"`
	BillID       string    `dynamodbav:"bill_id"`
	VisitID      string    `dynamodbav:"visit_id,omitempty"`
	Org          string    `dynamodbav:"org"`
	ProviderKind string    `dynamodbav:"provider_kind"`
	Tier         int       `dynamodbav:"tier"`
	VisitType    string    `dynamodbav:"visit_type"`
	HolderID     string    `dynamodbav:"holder_id"`
	Scheme       string    `dynamodbav:"scheme"`
	Retired      bool      `dynamodbav:"retired"`
	Policy       string    `dynamodbav:"policy"`
	Status       string    `dynamodbav:"status"`
	Total        Amounts   `dynamodbav:"total"`
	Lines        []Line    `dynamodbav:"lines"`
	Changes      Changes   `dynamodbav:"changes"`
	Fingerprint  string    `dynamodbav:"fingerprint"`
	SettledAt    time.Time `dynamodbav:"settled_at"`
	Reversal     *Reversal `dynamodbav:"reversal,omitempty"`
}

// Page is one page of a newest-first listing and the cursor of the next.
type Page[T any] = ddb.Page[T]
