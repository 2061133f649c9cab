package transit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
)

// Service turns taps into trips and charges.
type Service struct {
	charger
	gates   Gates
	scanner *scan.Scanner
	now     func() time.Time
}

// charger prices trips on the rider's history and charges them: what a
// tap and the sweep of trips left open (Sweeper) have in common.
type charger struct {
	net   *fares.Engine
	store *Store
}

// NewService returns a Service pricing on net, knowing gates, checking
// codes with scanner and storing in store.
func NewService(net *fares.Engine, gates Gates, scanner *scan.Scanner, store *Store) *Service {
	return &Service{charger: charger{net: net, store: store}, gates: gates, scanner: scanner, now: func() time.Time { return time.Now().UTC() }}
}

// purpose is the release policy transit scans under (qr-verify's).
const purpose = "transit"

// markOut is the purpose of a tap-out's use mark: a code may tap in once
// and tap out once.
const markOut = "transit_out"

// maxAttempts bounds the read-decide-write rounds of one tap under
// contention on its rider.
const maxAttempts = 50

var tapIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// validate checks a tap's fields.
func validate(t Tap) []httpapi.FieldError {
	var errs []httpapi.FieldError
	add := func(field, code, detail string) {
		errs = append(errs, httpapi.FieldError{Field: field, Code: code, Detail: detail})
	}
	if !tapIDPattern.MatchString(t.TapID) {
		add("tap_id", "invalid", "1 to 64 characters of A-Z a-z 0-9 . _ : -")
	}
	if t.GateID == "" || len(t.GateID) > 128 {
		add("gate_id", "required", "the gate's id, from the gate registry")
	}
	if t.StopID == "" || len(t.StopID) > 128 {
		add("stop_id", "required", "the GTFS stop_id where the tap happened")
	}
	if t.Direction != DirectionIn && t.Direction != DirectionOut {
		add("direction", "invalid", "in or out")
	}
	if _, err := time.Parse(time.RFC3339, t.At); err != nil {
		add("at", "invalid", "an RFC 3339 time")
	}
	if t.Code == "" || len(t.Code) > 2048 {
		add("code", "required", "the scanned code")
	}
	return errs
}

// input is a tap that passed the gate's checks.
type input struct {
	tap  Tap
	at   time.Time
	gate Gate
	stop fares.Stop
	by   qrverify.Scanner
	fp   string
}

// check applies what the registry, the network and the clock say of a
// valid tap from scanner by; a refusal, or the input to process.
func (s *Service) check(t Tap, by qrverify.Scanner, now time.Time) (input, *Result) {
	at, _ := time.Parse(time.RFC3339, t.At)
	at = at.UTC()
	no := func(code, detail string) (input, *Result) {
		r := refused(t.TapID, code, detail)
		return input{}, &r
	}
	g, ok := s.gates[t.GateID]
	switch {
	case !ok:
		return no(CodeUnknownGate, "no gate "+t.GateID+" in the registry")
	case g.Operator != by.Org:
		return no(CodeGateNotYours, "the gate belongs to another operator")
	case !g.reads(t.Direction):
		return no(CodeDirectionNotSupported, "the gate does not read tap-"+t.Direction+"s")
	case at.After(now.Add(MaxFuture)):
		return no(CodeTapInFuture, fmt.Sprintf("the tap is more than %s ahead of the server's clock", MaxFuture))
	case at.Before(now.Add(-MaxAge)):
		return no(CodeTapTooOld, fmt.Sprintf("taps older than %s are not accepted", MaxAge))
	}
	stop, code := g.at(t.StopID, s.net)
	switch code {
	case CodeUnknownStop:
		return no(code, "no stop "+t.StopID+" in the network")
	case CodeStopNotAtGate:
		return no(code, "the stop is not where this gate is (its station, or a stop of its route)")
	}
	return input{tap: t, at: at, gate: g, stop: stop, by: by, fp: fingerprint(t)}, nil
}

// verify checks the tap's code, online now or offline as of the tap's time.
func (s *Service) verify(ctx context.Context, in input, online bool) (scan.Scan, *Result, error) {
	var (
		sc  scan.Scan
		err error
	)
	if online {
		sc, err = s.scanner.Scan(ctx, in.tap.Code, purpose, in.by)
	} else {
		sc, err = s.scanner.ScanAt(ctx, in.tap.Code, purpose, in.by, in.at, MaxAge+time.Hour)
	}
	switch {
	case err != nil:
		return scan.Scan{}, nil, err
	case !sc.Valid:
		r := refused(in.tap.TapID, sc.Reason, "the code is not valid: "+sc.Reason)
		return scan.Scan{}, &r, nil
	case !sc.Home():
		r := refused(in.tap.TapID, CodeForeignCode, "a code of another city's issuer: this city holds no account for it")
		return scan.Scan{}, &r, nil
	}
	return sc, nil, nil
}

// apply processes a verified tap: read the rider, decide, write all of it
// in one transaction; again on contention. A batch passes the rider as its
// previous tap left them (known, if no one else changed them since: the
// transaction's conditions tell) to save the read, and gets the rider as
// this tap leaves them.
func (s *Service) apply(ctx context.Context, in input, sc scan.Scan, online bool, known *snapshot) (Result, *snapshot, error) {
	mark, err := s.mark(in, sc)
	if err != nil {
		return Result{}, nil, err
	}
	for attempt := 1; ; attempt++ {
		var (
			snap snapshot
			late *Trip
		)
		if known != nil && attempt == 1 {
			snap = *known
		} else {
			snap, err = s.store.read(ctx, sc.HolderID, in.by.Org, in.tap.TapID)
		}
		if err == nil && snap.tap == nil {
			late, snap, err = s.lateFor(ctx, in, sc.HolderID, snap)
		}
		if err != nil && !isContention(err) {
			return Result{}, nil, err
		}
		if err == nil {
			if snap.tap != nil {
				res, err := snap.tap.duplicate(in.tap.TapID, in.fp)
				return res, nil, err
			}
			c, res, err := s.decide(in, sc.HolderID, snap, online, late)
			if err != nil || c == nil {
				return res, nil, err
			}
			c.mark = mark
			err = s.store.commit(ctx, snap, c)
			switch {
			case err == nil:
				return c.result, &snapshot{state: c.state, stateExists: true, account: c.account}, nil
			case errors.Is(err, errReplayed):
				return refused(in.tap.TapID, CodeReplayed, "the code was already used to tap "+in.tap.Direction), nil, nil
			case !errors.Is(err, errDuplicateRace) && !errors.Is(err, errContention):
				return Result{}, nil, err
			}
		}
		if err := backoff(ctx, attempt, "tap "+in.tap.TapID); err != nil {
			return Result{}, nil, err
		}
	}
}

// backoff waits before a read-decide-write round's next attempt, after a
// jittered pause growing with attempt; an error after maxAttempts.
func backoff(ctx context.Context, attempt int, what string) error {
	if attempt >= maxAttempts {
		return fmt.Errorf("%s: still contended after %d attempts", what, attempt)
	}
	return awsclient.Sleep(ctx, time.Duration(1+rand.IntN(5*min(attempt, 10)))*time.Millisecond)
}

// isContention is a read cancelled by a transaction in flight.
func isContention(err error) bool {
	var tce *types.TransactionCanceledException
	return errors.As(err, &tce)
}

// mark is the code's use mark: the scan's own for a tap-in (single-use for
// transit, shared with qr-verify), a tap-out's own kind for a tap-out.
func (s *Service) mark(in input, sc scan.Scan) ([]types.TransactWriteItem, error) {
	if in.tap.Direction == DirectionIn {
		return sc.Writes()
	}
	u := qrverify.Use{Purpose: markOut, Issuer: sc.Issuer, CodeID: sc.CodeID, Until: sc.ExpiresAt.Add(MaxAge + time.Hour)}
	return []types.TransactWriteItem{ddb.PutNew(s.store.uses, map[string]types.AttributeValue{
		"pk": ddb.S(u.Key()), "expires_at": ddb.N(u.Until.Unix()),
	})}, nil
}

// decide is what the tap does to the rider in snap: nil change for a
// refusal (res says why). late is, for a tap-out that no open trip
// precedes, the rider's last trip before it (lateFor).
func (s *Service) decide(in input, holderID string, snap snapshot, online bool, late *Trip) (*change, Result, error) {
	t := in.tap
	may := func(a holders.Account) *bool { v := a.MayTravel(); return &v }
	c := &change{holderID: holderID, org: in.by.Org, tap: t, fp: in.fp, state: snap.state}
	if t.Direction == DirectionOut {
		exit := Point{StopID: in.stop.ID, StopName: in.stop.Name, GateID: t.GateID, At: in.at}
		o := c.state.Open
		if o == nil || in.at.Before(o.At) {
			if late.repriceable() {
				c.result = Result{TapID: t.TapID, Status: StatusAccepted, TripID: late.TripID}
				if c, res, err := s.reprice(c, *late, exit, snap.account); c != nil || err != nil {
					return c, res, err
				}
			}
			r := refused(t.TapID, CodeNoTapIn, "no open trip to tap out of")
			r.MayTravel = may(snap.account)
			return nil, r, nil
		}
		trip, err := s.price(c, holderID, *o, fares.Ride{Mode: fares.Metro, EntryStop: o.StopID, ExitStop: in.stop.ID, TapIn: o.At, TapOut: in.at}, &exit, TripCompleted)
		if err != nil {
			return nil, Result{}, err
		}
		c.state.Open = nil
		c.result = Result{TapID: t.TapID, Status: StatusAccepted, TripID: trip.TripID}
		return s.settle(c, snap.account)
	}
	// A tap-in: a metro trip still open was never tapped out of.
	if _, err := s.closeMissing(c, holderID); err != nil {
		return nil, Result{}, err
	}
	// Online, the gate stays shut for an account that cannot pay (after
	// that trip); offline, the rider has passed already and is charged.
	if after := snap.account; online {
		for _, tr := range c.trips {
			after.BalanceFen -= tr.Fare.ChargedFen
		}
		if !after.MayTravel() {
			r := refused(t.TapID, CodeInsufficientFunds, "the account cannot pay: top up first")
			r.MayTravel = may(after)
			return nil, r, nil
		}
	}
	open := openTrip{TripID: newTripID(), TapID: t.TapID, GateID: t.GateID, StopID: in.stop.ID, Operator: in.gate.Operator, At: in.at}
	if in.gate.Mode == fares.Bus {
		trip, err := s.price(c, holderID, open, fares.Ride{Mode: fares.Bus, RouteID: in.gate.RouteID, EntryStop: in.stop.ID, TapIn: in.at}, nil, TripBus)
		if err != nil {
			return nil, Result{}, err
		}
		trip.RouteID = in.gate.RouteID
		c.result = Result{TapID: t.TapID, Status: StatusAccepted, TripID: trip.TripID}
		return s.settle(c, snap.account)
	}
	c.state.Open = &open
	c.result = Result{TapID: t.TapID, Status: StatusAccepted, TripID: open.TripID}
	return s.settle(c, snap.account)
}

// closeMissing closes the metro trip c's rider still has open, if any, at
// the maximum fare from its entry station (no tap-out), and answers it.
func (s *charger) closeMissing(c *change, holderID string) (*Trip, error) {
	o := c.state.Open
	if o == nil {
		return nil, nil
	}
	trip, err := s.price(c, holderID, *o, fares.Ride{Mode: fares.Metro, EntryStop: o.StopID, TapIn: o.At}, nil, TripMissingTapOut)
	if err != nil {
		return nil, err
	}
	c.state.Open = nil
	return trip, nil
}

// price prices a ride that began with o on the rider's history, adds the
// trip (and its charge) to c and moves the history on.
func (s *charger) price(c *change, holderID string, o openTrip, ride fares.Ride, exit *Point, status string) (*Trip, error) {
	h, on := fares.History{}, &pricedOn{}
	if p := c.state.Previous; p != nil && !p.TapIn.After(ride.TapIn) {
		h.Previous, on.Previous = p.priced(), p
	}
	month := s.net.Month(ride.TapIn)
	if c.state.Month == month {
		h.MonthMetroFen, on.MonthMetroFen = c.state.MonthMetroFen, c.state.MonthMetroFen
	}
	f, err := s.net.Price(ride, h)
	if err != nil {
		return nil, fmt.Errorf("price trip %s: %w", o.TripID, err)
	}
	if p := c.state.Previous; p == nil || !ride.TapIn.Before(p.TapIn) {
		r := f.Ride
		c.state.Previous = &previous{Mode: string(r.Mode), NetworkID: r.NetworkID, TapIn: r.TapIn,
			TransferDiscounted: r.TransferDiscounted, ChainStart: r.ChainStart, ChainTransfers: r.ChainTransfers}
	}
	if ride.Mode == fares.Metro {
		switch {
		case month == c.state.Month:
			c.state.MonthMetroFen += f.ChargedFen
		case month > c.state.Month:
			c.state.Month, c.state.MonthMetroFen = month, f.ChargedFen
		}
	}
	entry, _ := s.net.Stop(o.StopID)
	trip := Trip{TripID: o.TripID, HolderID: holderID, Mode: string(ride.Mode), Status: status, Operator: o.Operator,
		Entry: Point{StopID: o.StopID, StopName: entry.Name, GateID: o.GateID, At: o.At}, Exit: exit}
	trip.setFare(f)
	if status == TripMissingTapOut {
		trip.PricedOn = on // to reprice it if its tap-out arrives late
	}
	c.trips = append(c.trips, trip)
	return &c.trips[len(c.trips)-1], nil
}

// settle charges c's trips to the account and fills in what the answer
// and the trips say about the money.
func (s *charger) settle(c *change, acct holders.Account) (*change, Result, error) {
	now := s.store.now()
	for i := range c.trips {
		t := &c.trips[i]
		t.ChargedAt = now
		if t.Fare.ChargedFen > 0 {
			t.EntryID = "fare_" + t.TripID
			c.charges = append(c.charges, holders.Charge{EntryID: t.EntryID, Kind: "transit_fare", AmountFen: t.Fare.ChargedFen, At: now})
		}
	}
	after := acct
	if len(c.charges) > 0 {
		writes, entries, err := holders.ChargeWrites(s.store.holders, acct, c.charges...)
		if err != nil {
			return nil, Result{}, err
		}
		c.chargeWrites = writes
		for i, j := 0, 0; i < len(c.trips); i++ {
			if c.trips[i].EntryID != "" {
				c.trips[i].UnpaidFen = entries[j].UnpaidFen
				after.BalanceFen = entries[j].BalanceAfterFen
				j++
			}
		}
	}
	if len(c.charges) > 0 {
		after.Version++
	}
	c.account = after
	may := after.MayTravel()
	c.result.MayTravel = &may
	for i := range c.trips {
		if c.trips[i].TripID == c.result.TripID {
			t := c.trips[i]
			c.result.Trip = &t
		}
	}
	return c, c.result, nil
}

// newTripID is "trp_" and 26 random base32 characters.
func newTripID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b strings.Builder
	b.WriteString("trp_")
	for range 26 {
		b.WriteByte(alphabet[rand.IntN(len(alphabet))])
	}
	return b.String()
}
