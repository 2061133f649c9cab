// Package medpolicy is the medical insurance policy engine: it loads the
// policies (per city and year, as data in infra/medical/policies) and splits a
// hospital or pharmacy bill between the insurance fund, the personal account
// and cash, in integer fen, in FHIR ClaimResponse adjudication categories.
//
// It is pure Go: no AWS, no clock, no state. The settlement service
// (shared/medical) reads the member's profile, calls Split, and writes the
// result and the new running totals in one transaction.
package medpolicy

import (
	"errors"
	"fmt"
	"time"
)

// Scheme is a medical insurance scheme.
type Scheme string

// The schemes.
const (
	Employee Scheme = "employee" // 职工医保
	Resident Scheme = "resident" // 城乡居民医保
)

// VisitType is the kind of bill.
type VisitType string

// The visit types.
const (
	Outpatient VisitType = "outpatient" // 门急诊
	Inpatient  VisitType = "inpatient"  // 住院
	Pharmacy   VisitType = "pharmacy"   // 定点药店
)

// Category is a line's catalogue category.
type Category string

// The catalogue categories.
const (
	CategoryA Category = "A" // fully eligible
	CategoryB Category = "B" // eligible after a self-paid share (先行自付)
	CategoryC Category = "C" // outside the catalogue: fully self-paid
)

// MaxLines is the most lines a bill may have.
const MaxLines = 500

// Line is one line of a bill.
type Line struct {
	ItemCode  string
	Category  Category
	Quantity  int64
	AmountFen int64 // the line's total, not the unit price
}

// Bill is what a hospital or pharmacy submits.
type Bill struct {
	VisitType VisitType
	Tier      int // hospital tier 1..3 (community, district, tertiary); 0 for pharmacy
	Lines     []Line
	// Date picks the policy year and the running-totals year (Asia/Shanghai).
	Date time.Time
}

// Totals are a member's running totals for one calendar year.
type Totals struct {
	Year                       int
	OutpatientDeductibleMetFen int64
	InpatientDeductibleMetFen  int64
	FundPaidFen                int64
}

// Member is the insured person as the split needs them.
type Member struct {
	Scheme             Scheme
	Retired            bool
	PersonalAccountFen int64
	Totals             Totals // Totals of another year than the bill's count as zero
}

// Amounts are FHIR ClaimResponse adjudication categories, in fen.
//
//	Submitted = Benefit + PersonalAccount + Cash
//	Eligible  = Submitted − SelfPay
//	Eligible  = Deductible + Copay + Benefit
type Amounts struct {
	Submitted       int64 // the amount billed
	SelfPay         int64 // not eligible: category C, and the B self-paid share
	Eligible        int64 // within the catalogue, after the B self-paid share
	Deductible      int64 // eligible amount counted against the deductible
	Copay           int64 // eligible amount above the deductible the fund does not pay
	Benefit         int64 // what the fund pays
	PersonalAccount int64 // what the personal account pays
	Cash            int64 // what the patient pays in cash
}

// LineSplit is one line's share of a split.
type LineSplit struct {
	Index    int
	ItemCode string
	Amounts  Amounts
}

// Split is the result of splitting a bill.
type Split struct {
	Lines                   []LineSplit
	Total                   Amounts
	After                   Totals // the member's running totals after this bill
	PersonalAccountAfterFen int64
	Policy                  string // the policy id, e.g. "sh-2026"
}

// Errors. An error about one line is a *LineError wrapping ErrBadBill (and
// ErrUnknownCategory for a category outside A, B, C). ErrBadTier says the
// policy has no rules for the bill's tier and visit type (a pharmacy is tier
// 0, a hospital 1 to 3); ErrBadMember that the member's scheme is not in the
// policy or their balances are out of range.
var (
	ErrNoPolicy        = errors.New("medpolicy: no policy for this city and date")
	ErrBadBill         = errors.New("medpolicy: bad bill")
	ErrUnknownCategory = errors.New("medpolicy: unknown catalogue category")
	ErrBadTier         = errors.New("medpolicy: bad hospital tier")
	ErrBadMember       = errors.New("medpolicy: bad member")
)

// LineError is an error about one line of a bill; errors.Is sees through it
// to the sentinel, and errors.As gives the line's index.
type LineError struct {
	Index int
	Err   error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Index, e.Err) }

// Unwrap returns the sentinel.
func (e *LineError) Unwrap() error { return e.Err }
