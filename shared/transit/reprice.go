package transit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
)

// A tap-out that arrives after its trip was closed as missing tap-out (by
// the sweep, or by the rider's next tap-in: an offline exit gate uploads
// up to MaxAge late) reprices that trip with its real exit and refunds the
// difference, once (infra/transit.md, "Late tap-outs").

// kindRefund is the ledger entry kind of a refund.
const kindRefund = "transit_refund"

// lateFor is, for a tap-out that no open trip in snap precedes, the
// rider's last trip that tapped in before it and within the tap-out limit
// of it (nil if none, or if the tap is not such a tap-out): the only trip
// it can end. A consistent Query of one item on the trips' keys; when it
// finds a trip, the rider is read again after it, so that a trip found
// repriced comes with the record of the tap that repriced it (a
// concurrent upload of this tap is then a duplicate, not a refusal).
func (s *Service) lateFor(ctx context.Context, in input, holderID string, snap snapshot) (*Trip, snapshot, error) {
	if in.tap.Direction != DirectionOut {
		return nil, snap, nil
	}
	if o := snap.state.Open; o != nil && !in.at.Before(o.At) {
		return nil, snap, nil
	}
	// A trip's key is its tap-in time and "#<id>": the bare exit time sorts
	// after the trips that tapped in before it, and the bare earliest
	// tap-in before those of that instant.
	out, err := s.store.queryTrips(ctx, holderID, tripsFrom(in.at.Add(-s.net.TapOutLimit())), tripsFrom(in.at), 1, true, nil)
	if err != nil {
		return nil, snapshot{}, fmt.Errorf("query the trip before a tap-out: %w", err)
	}
	if len(out.Items) == 0 {
		return nil, snap, nil
	}
	var t Trip
	if err := attributevalue.UnmarshalMap(out.Items[0], &t); err != nil {
		return nil, snapshot{}, fmt.Errorf("unmarshal trip: %w", err)
	}
	snap, err = s.store.read(ctx, holderID, in.by.Org, in.tap.TapID)
	return &t, snap, err
}

// repriceable reports whether t is a metro trip closed at the maximum fare
// for want of a tap-out, not repriced yet, with the history it was priced
// on (trips closed before that was kept are left as they are).
func (t *Trip) repriceable() bool {
	return t != nil && t.Mode == string(fares.Metro) && t.Status == TripMissingTapOut && t.RepricedAt == nil && t.PricedOn != nil
}

// reprice prices t again, with its real exit and on the history it was
// first priced on (so with the same discounts), into c: the trip
// completed, the difference credited to the account, the month's metro
// spending in the rider's state lowered by it. Later rides' fares are not
// recomputed. A nil change when the real exit would cost more than was
// charged (the fare rules changed since): the trip stays as it is.
func (s *charger) reprice(c *change, t Trip, exit Point, acct holders.Account) (*change, Result, error) {
	h := fares.History{MonthMetroFen: t.PricedOn.MonthMetroFen}
	if p := t.PricedOn.Previous; p != nil {
		h.Previous = p.priced()
	}
	f, err := s.net.Price(fares.Ride{Mode: fares.Metro, EntryStop: t.Entry.StopID, ExitStop: exit.StopID, TapIn: t.Entry.At, TapOut: exit.At}, h)
	if err != nil {
		return nil, Result{}, fmt.Errorf("reprice trip %s: %w", t.TripID, err)
	}
	refund := t.Fare.ChargedFen - f.ChargedFen
	if refund < 0 {
		return nil, Result{}, nil
	}
	now := s.store.now()
	t.Status, t.Exit = TripCompleted, &exit
	t.setFare(f)
	t.RepricedAt, t.RefundFen = &now, refund
	// Of the fare now charged, the part the account did not cover when
	// the maximum was charged.
	t.UnpaidFen = max(0, t.UnpaidFen-refund)
	if s.net.Month(t.Entry.At) == c.state.Month {
		c.state.MonthMetroFen = max(0, c.state.MonthMetroFen-refund)
	}
	after := acct
	if refund > 0 {
		t.RefundEntryID = "refund_" + t.TripID
		writes, e, err := holders.CreditWrites(s.store.holders, acct, holders.Credit{EntryID: t.RefundEntryID, Kind: kindRefund, AmountFen: refund, At: now})
		if err != nil {
			return nil, Result{}, err
		}
		c.chargeWrites = writes
		after.BalanceFen, after.Version = e.BalanceAfterFen, acct.Version+1
	}
	c.repriced, c.account = &t, after
	may := after.MayTravel()
	c.result.MayTravel, c.result.Trip = &may, &t
	return c, c.result, nil
}

// setFare sets what the fare engine says of the trip.
func (t *Trip) setFare(f fares.Fare) {
	t.DistanceM = f.DistanceM
	t.Fare = Fare{BaseFen: f.BaseFen, ChargedFen: f.ChargedFen, Basis: f.Basis, ProductID: f.ProductID, Detail: f.Detail,
		Adjustments: make([]Adjustment, 0, len(f.Adjustments))}
	for _, a := range f.Adjustments {
		t.Fare.Adjustments = append(t.Fare.Adjustments, Adjustment{Code: a.Code, AmountFen: a.AmountFen, Detail: a.Detail})
	}
}
