// Package qrverify is qr-verify: a scanner posts a code and its purpose and
// learns whether it is valid — or precisely why not — and only the claims
// that purpose may see; the signed trust list is published for offline
// gates. See infra/credential.md and infra/qr.md.
package qrverify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/trust"
)

// Reasons verification adds to credential's.
const (
	ReasonHolderSuspended = "holder_suspended"
	ReasonReplayed        = "replayed"
)

// ErrTrustListUnavailable means no verified trust list could be had.
var ErrTrustListUnavailable = errors.New("qrverify: trust list unavailable")

// Scanner is who scans: the token's subject and organisation.
type Scanner struct {
	Subject, Org string
}

// Result is a verification's answer.
type Result struct {
	Valid  bool
	Reason string
	Issuer string
	// HolderID is the holder of a valid code of this city's issuer; empty
	// for another city's code, whose holder that city knows.
	HolderID  string
	CodeID    [8]byte
	ExpiresAt time.Time
	Claims    map[string]any
}

// Verifier checks codes against the trust list and the holder's state.
type Verifier struct {
	list       trust.ListSource
	store      Store
	homeIssuer string
	skew       time.Duration
	now        func() time.Time
}

// NewVerifier returns a Verifier; homeIssuer's codes are checked against
// this city's holders, other trusted issuers' codes by signature alone.
func NewVerifier(list trust.ListSource, store Store, homeIssuer string, skew time.Duration) *Verifier {
	return &Verifier{list: list, store: store, homeIssuer: homeIssuer, skew: skew, now: time.Now}
}

// Acceptance is what accepting a checked code writes: the single-use mark
// (nil for a purpose that may scan a code again) and the access-log entry of
// the release (nil when the purpose releases no personal data).
type Acceptance struct {
	Use      *Use
	HolderID string
	Entry    *AccessEntry
}

// Verify checks code for purpose p on behalf of scanner and accepts it. An
// invalid code is a Result with a reason; an error means the check could
// not be made.
func (v *Verifier) Verify(ctx context.Context, code string, p Purpose, scanner Scanner) (Result, error) {
	res, acc, err := v.Check(ctx, code, p, scanner)
	if err != nil || !res.Valid {
		return res, err
	}
	err = v.store.Accept(ctx, acc.Use, acc.HolderID, acc.Entry)
	if errors.Is(err, ErrReplayed) {
		return Result{Reason: ReasonReplayed}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Check is Verify without the write: the code is valid, but not accepted
// until the caller writes the Acceptance — in its own transaction, together
// with what the scan opens (a trip, a visit, a stay), so that a code is
// never used up by a scan that changed nothing (shared/scan does this for
// the capabilities that scan in-process). A replay shows only then, as the
// use mark's failed condition.
func (v *Verifier) Check(ctx context.Context, code string, p Purpose, scanner Scanner) (Result, Acceptance, error) {
	return v.CheckAt(ctx, code, p, scanner, v.now())
}

// CheckAt is Check as of now instead of the current time: an offline gate
// uploads its taps after their codes expired, and each is checked as it was
// when it was scanned. The caller bounds how far back it lets now go.
func (v *Verifier) CheckAt(ctx context.Context, code string, p Purpose, scanner Scanner, now time.Time) (Result, Acceptance, error) {
	list, err := v.list.Current(ctx)
	if err != nil {
		return Result{}, Acceptance{}, fmt.Errorf("%w: %w", ErrTrustListUnavailable, err)
	}
	c, err := credential.Verify(code, list.List.Lookup(), now, v.skew)
	if err != nil {
		if reason := credential.Reason(err); reason != "" {
			return Result{Reason: reason}, Acceptance{}, nil
		}
		return Result{}, Acceptance{}, err
	}
	res := Result{Valid: true, Issuer: c.Issuer, CodeID: c.CodeID, ExpiresAt: c.Expires, Claims: map[string]any{}}
	var acc Acceptance
	if p.SingleUse {
		acc.Use = &Use{Purpose: p.Name, Issuer: c.Issuer, CodeID: c.CodeID, Until: c.Expires.Add(v.skew + max(time.Hour, p.KeepMark))}
	}
	if c.Issuer != v.homeIssuer {
		// Another city's code: its signature is all this city can check;
		// that city holds the holder's data.
		return res, acc, nil
	}

	id := idFromRef(c.Subject)
	h, err := v.store.Holder(ctx, id)
	if errors.Is(err, ErrNoHolder) || (err == nil && h.Status != statusActive) {
		return Result{Reason: ReasonHolderSuspended}, Acceptance{}, nil
	}
	if err != nil {
		return Result{}, Acceptance{}, err
	}
	res.HolderID, acc.HolderID = id, id
	for _, claim := range p.Claims {
		res.Claims[claim] = claimValue(claim, h, now)
	}
	if p.personal() {
		acc.Entry = &AccessEntry{At: now.UTC(), Organisation: scanner.Org, Actor: scanner.Subject, Purpose: p.Name,
			What: p.Claims, Outcome: "released"}
	}
	return res, acc, nil
}

func claimValue(claim string, h Holder, now time.Time) any {
	switch claim {
	case ClaimName:
		return h.Name
	case ClaimDocumentType:
		return h.DocumentType
	case ClaimDocumentNumber:
		return h.DocumentNumber
	case ClaimDateOfBirth:
		return h.DateOfBirth
	case ClaimNationality:
		return h.Nationality
	case ClaimAgeGroup:
		if dob, err := time.Parse(time.DateOnly, h.DateOfBirth); err == nil && dob.AddDate(18, 0, 0).After(now) {
			return "minor"
		}
		return "adult"
	case ClaimMayTravel:
		return h.MayTravel()
	}
	return nil
}

// MayTravel reports whether the holder's account may start a ride: its
// balance plus its post-paid limit is above zero. The ride that takes it
// below is still charged in full, and what the account cannot cover is
// recorded as debt (shared/holders); from then on the holder may not travel
// until a top-up pays it off. Fares are not known here, so "above zero"
// rather than "at least the minimum fare": one ride of credit.
func (h Holder) MayTravel() bool { return h.BalanceFen+h.PostpaidLimitFen > 0 }
