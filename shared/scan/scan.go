// Package scan lets a capability that opens something with a scanned code —
// a transit trip, a hospital visit, a hotel stay, a venue entry — verify the
// code in-process, exactly as qr-verify does (shared/qrverify), and accept it
// in the same transaction as what the scan opens: the single-use mark and the
// access-log entry go first in the capability's own TransactWriteItems, so a
// code is used up if and only if the scan changed something, and a cloned
// code fails its second transaction on the mark.
package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/qrverify"
)

// Scanner checks codes for one capability.
type Scanner struct {
	verifier      *qrverify.Verifier
	uses, holders string
}

// New builds a Scanner from qr-verify's configuration in env (HOLDERS_TABLE,
// CODE_USES_TABLE, TRUST_TABLE, TRUST_ROOT_JWK, CODE_ISSUER,
// CODE_CLOCK_SKEW). It makes no network call: the trust list is read on the
// first scan and cached for TRUST_REFRESH.
func New(env app.Env, log *slog.Logger) (*Scanner, error) {
	p, err := qrverify.PartsFrom(env, log)
	if err != nil {
		return nil, err
	}
	return NewScanner(p.Verifier, p.Config.CodeUsesTable, p.Config.HoldersTable), nil
}

// NewScanner returns a Scanner over v, writing use marks to usesTable and
// access-log entries to holdersTable.
func NewScanner(v *qrverify.Verifier, usesTable, holdersTable string) *Scanner {
	return &Scanner{verifier: v, uses: usesTable, holders: holdersTable}
}

// Scan is a checked code: Valid, or the Reason it is not (qr-verify's
// reasons), with the claims its purpose releases and the writes that accept
// it.
type Scan struct {
	qrverify.Result
	acceptance    qrverify.Acceptance
	uses, holders string
}

// Scan checks code for purpose on behalf of by. An error means the check
// could not be made (the trust list or the holders table is unavailable)
// or the purpose is unknown, which is a programming error.
func (s *Scanner) Scan(ctx context.Context, code, purpose string, by qrverify.Scanner) (Scan, error) {
	return s.scan(ctx, code, purpose, by, time.Time{}, 0)
}

// ScanAt is Scan as of at, for a tap that an offline gate uploads later:
// the code is checked as it was when it was scanned, and its use mark is
// kept until keep after the code's expiry, so that a clone uploaded up to
// keep later still finds it. The caller refuses scans older than keep.
func (s *Scanner) ScanAt(ctx context.Context, code, purpose string, by qrverify.Scanner, at time.Time, keep time.Duration) (Scan, error) {
	return s.scan(ctx, code, purpose, by, at, keep)
}

// scan checks code now (at zero) or as of at.
func (s *Scanner) scan(ctx context.Context, code, purpose string, by qrverify.Scanner, at time.Time, keep time.Duration) (Scan, error) {
	p, ok := qrverify.PurposeNamed(purpose)
	if !ok {
		return Scan{}, fmt.Errorf("scan: unknown purpose %q", purpose)
	}
	var (
		res qrverify.Result
		acc qrverify.Acceptance
		err error
	)
	if at.IsZero() {
		res, acc, err = s.verifier.Check(ctx, code, p, by)
	} else {
		res, acc, err = s.verifier.CheckAt(ctx, code, p, by, at)
	}
	if err != nil {
		return Scan{}, err
	}
	if acc.Use != nil {
		acc.Use.Until = later(acc.Use.Until, res.ExpiresAt.Add(keep))
	}
	return Scan{Result: res, acceptance: acc, uses: s.uses, holders: s.holders}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Home reports whether the code's holder is enrolled in this city
// (HolderID is set); another city's code is valid by its signature alone.
func (sc Scan) Home() bool { return sc.HolderID != "" }

// Writes are the items that accept the code, to put first in the caller's
// transaction: the single-use mark (conditional on being new, so a replay
// cancels the transaction at index 0, see Replayed) and then the access-log
// entry of what the purpose released. None for an invalid code.
func (sc Scan) Writes() ([]types.TransactWriteItem, error) {
	if !sc.Valid {
		return nil, errors.New("scan: an invalid code cannot be accepted")
	}
	var writes []types.TransactWriteItem
	if u := sc.acceptance.Use; u != nil {
		writes = append(writes, ddb.PutNew(sc.uses, map[string]types.AttributeValue{
			"pk": ddb.S(u.Key()), "expires_at": ddb.N(u.Until.Unix()),
		}))
	}
	if e := sc.acceptance.Entry; e != nil {
		w, err := holders.AccessWrite(sc.holders, sc.acceptance.HolderID, holders.AccessEntry{
			At: e.At, Organisation: e.Organisation, Actor: e.Actor, Purpose: e.Purpose, What: e.What, Outcome: e.Outcome})
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	return writes, nil
}

// Replayed reports whether err is a transaction that a Scan's Writes,
// put first, cancelled on the use mark: the code was accepted before for
// this purpose (a clone, or a second desk), and the caller answers
// qrverify.ReasonReplayed.
func Replayed(err error) bool { return ddb.Cancelled(err)[0] }
