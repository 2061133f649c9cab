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
	Valid     bool
	Reason    string
	Issuer    string
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

// Verify checks code for purpose p on behalf of scanner. An invalid code is
// a Result with a reason; an error means the check could not be made.
func (v *Verifier) Verify(ctx context.Context, code string, p Purpose, scanner Scanner) (Result, error) {
	list, err := v.list.Current(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrTrustListUnavailable, err)
	}
	now := v.now()
	c, err := credential.Verify(code, list.List.Lookup(), now, v.skew)
	if err != nil {
		if reason := credential.Reason(err); reason != "" {
			return Result{Reason: reason}, nil
		}
		return Result{}, err
	}
	res := Result{Valid: true, Issuer: c.Issuer, CodeID: c.CodeID, ExpiresAt: c.Expires, Claims: map[string]any{}}
	var use *Use
	if p.SingleUse {
		use = &Use{Purpose: p.Name, Issuer: c.Issuer, CodeID: c.CodeID, Until: c.Expires.Add(v.skew + time.Hour)}
	}
	if c.Issuer != v.homeIssuer {
		// Another city's code: its signature is all this city can check;
		// that city holds the holder's data.
		return v.accept(ctx, res, use, "", nil)
	}

	id := idFromRef(c.Subject)
	h, err := v.store.Holder(ctx, id)
	if errors.Is(err, ErrNoHolder) || (err == nil && h.Status != statusActive) {
		return Result{Reason: ReasonHolderSuspended}, nil
	}
	if err != nil {
		return Result{}, err
	}
	for _, claim := range p.Claims {
		res.Claims[claim] = claimValue(claim, h, now)
	}
	var entry *AccessEntry
	if p.personal() {
		entry = &AccessEntry{At: now.UTC(), Organisation: scanner.Org, Actor: scanner.Subject, Purpose: p.Name,
			What: p.Claims, Outcome: "released"}
	}
	return v.accept(ctx, res, use, id, entry)
}

func (v *Verifier) accept(ctx context.Context, res Result, use *Use, holderID string, entry *AccessEntry) (Result, error) {
	err := v.store.Accept(ctx, use, holderID, entry)
	if errors.Is(err, ErrReplayed) {
		return Result{Reason: ReasonReplayed}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
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
		return h.BalanceFen > 0
	}
	return nil
}
