// Package fares prices transit rides from data: a GTFS feed gives the network
// (stops, lines, distances) and a rules file shaped after GTFS Fares v2 gives
// the fares (distance bands, flat fares, transfer discounts) plus the few
// extras Fares v2 cannot express (monthly spending discount, missing tap-out).
// It is pure Go with no I/O after Load; money is integer fen throughout.
package fares

import (
	"errors"
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // the rules' time zone must load on Lambda images without zoneinfo
)

// Mode is how a ride travels; it decides how the ride is priced.
type Mode string

// The modes a ride can have.
const (
	Metro Mode = "metro" // priced by shortest-path distance between entry and exit stations
	Bus   Mode = "bus"   // priced by a flat fare per route
)

// Stable codes of a fare's basis.
const (
	BasisMetroDistance    = "metro_distance"      // the distance band of the shortest path
	BasisBusFlat          = "bus_flat"            // the route's flat fare
	BasisMissingTapOutMax = "missing_tap_out_max" // no tap-out: the highest fare from the entry station
	BasisOvertimeMax      = "overtime_max"        // tapped out after the tap-out limit: the highest fare from the entry station
	BasisSameStationMin   = "same_station_min"    // tapped out where it tapped in: the lowest metro fare
)

// Stable codes of adjustments.
const (
	AdjustTransferDiscount     = "transfer_discount"
	AdjustMonthlyMetroDiscount = "monthly_metro_discount"
)

// Sentinel errors; the errors returned wrap one of them with the detail.
var (
	ErrUnknownStop  = errors.New("fares: unknown stop")              // not a stop of the ride's mode (metro: a station)
	ErrUnknownRoute = errors.New("fares: unknown route")             // not a bus route
	ErrBadRide      = errors.New("fares: bad ride")                  // inconsistent ride or history, e.g. exit before entry
	ErrBadData      = errors.New("fares: bad network or rules data") // Load only
)

// Ride is one ride to price.
type Ride struct {
	Mode      Mode
	RouteID   string    // bus: the GTFS route_id (flat fare); metro: "" (priced by distance)
	EntryStop string    // GTFS stop_id (metro: the station = parent stop; bus: a stop on the route)
	ExitStop  string    // metro only; "" when the tap-out is missing
	TapIn     time.Time // required
	TapOut    time.Time // metro: zero when missing; bus: always zero
}

// History is what earlier rides of the same holder change about this one.
type History struct {
	Previous      *Priced // the holder's previous ride, nil if none
	MonthMetroFen int64   // metro fares charged so far in TapIn's calendar month (rules' time zone, Asia/Shanghai)
}

// Priced is what the next ride's History needs of a priced ride. Store every
// field (Fare.Ride) with the trip: a Previous without its NetworkID is refused.
type Priced struct {
	Mode               Mode
	NetworkID          string // fare network of the ride; transfer rules are between networks' leg groups
	TapIn              time.Time
	TransferDiscounted bool      // this ride got a transfer discount
	ChainStart         time.Time // tap-in of the first ride of its transfer chain (its own TapIn if it starts one)
	ChainTransfers     int       // discounted transfers in the chain up to and including this ride
}

// Adjustment is one discount applied to a ride's base fare.
type Adjustment struct {
	Code      string // stable: transfer_discount, monthly_metro_discount
	AmountFen int64  // negative for a discount
	Detail    string // a human explanation
}

// Fare is a priced ride.
type Fare struct {
	BaseFen      int64        // before discounts
	ChargedFen   int64        // what to charge (>= 0)
	DistanceM    int64        // metro: shortest path metres; 0 for bus and missing tap-out
	Basis        string       // stable code: one of the Basis constants
	ProductID    string       // the fare product of the base fare (rules file)
	Detail       string       // a human explanation of the base fare
	RulesVersion string       // the rules file's version, for audit
	Adjustments  []Adjustment // discounts, in the order applied
	Ride         Priced       // what to store for the next ride's History
}

// Stop is a place a ride can start or end: a metro station or a bus stop.
type Stop struct {
	ID    string
	Name  string
	Mode  Mode
	Lines []string // route_ids serving it, sorted
}

// Route is a bus route or a metro line.
type Route struct {
	ID        string
	ShortName string
	LongName  string
	Mode      Mode
	NetworkID string // fare network (rules file)
}

// Engine prices rides. It is immutable after Load and safe for concurrent use.
type Engine struct {
	stops      map[string]Stop
	routes     map[string]Route
	busStops   map[string][]string // bus route → its stops, sorted
	station    map[string]int      // metro station → index in dist
	dist       distances
	maxFrom    []band // per station index: the band of the farthest station
	rules      *rules
	version    string
	maxFareFen int64
}

// Load reads a GTFS feed directory and a fare rules file and validates them
// together; a broken feed or rules file is an error wrapping ErrBadData. It
// precomputes every shortest path, so Price does no search.
func Load(gtfsDir, rulesFile string) (*Engine, error) {
	f, err := loadFeed(gtfsDir)
	if err != nil {
		return nil, err
	}
	rf, err := readRules(rulesFile)
	if err != nil {
		return nil, err
	}
	dist, err := shortestPaths(f.stations, f.edges)
	if err != nil {
		return nil, err
	}
	var longest int64
	for _, d := range dist.d {
		longest = max(longest, d)
	}
	r, err := compile(rf, f, longest)
	if err != nil {
		return nil, err
	}
	e := &Engine{stops: f.stops, routes: f.routes, busStops: f.busStops, station: map[string]int{}, dist: dist, rules: r, version: rf.Version}
	for i, s := range f.stations {
		e.station[s] = i
		var far int64
		for j := range f.stations {
			far = max(far, dist.at(i, j))
		}
		b := r.bandFor(far)
		e.maxFrom = append(e.maxFrom, b)
		e.maxFareFen = max(e.maxFareFen, b.product.fen)
	}
	for _, p := range r.flat {
		e.maxFareFen = max(e.maxFareFen, p.fen)
	}
	return e, nil
}

// bandFor is the metro band of a distance; the bands cover every distance
// of the network (checked by compile).
func (r *rules) bandFor(m int64) band {
	for _, b := range r.bands {
		if m <= b.maxM {
			return b
		}
	}
	return r.bands[len(r.bands)-1]
}

// Price computes the fare of r given the holder's history h: the base fare
// of the ride, then the monthly spending discount (a percentage of the base
// fare), then the transfer discount, never below zero.
func (e *Engine) Price(r Ride, h History) (Fare, error) {
	if r.TapIn.IsZero() {
		return Fare{}, fmt.Errorf("%w: no tap-in time", ErrBadRide)
	}
	if h.MonthMetroFen < 0 {
		return Fare{}, fmt.Errorf("%w: negative monthly metro spending", ErrBadRide)
	}
	var (
		f   Fare
		err error
	)
	switch r.Mode {
	case Metro:
		f, err = e.metroBase(r)
	case Bus:
		f, err = e.busBase(r)
	default:
		err = fmt.Errorf("%w: mode %q is neither metro nor bus", ErrBadRide, r.Mode)
	}
	if err != nil {
		return Fare{}, err
	}
	f.RulesVersion = e.version
	f.ChargedFen = f.BaseFen
	f.Ride = Priced{Mode: r.Mode, NetworkID: f.Ride.NetworkID, TapIn: r.TapIn, ChainStart: r.TapIn}

	if m := e.rules.monthly; m != nil && f.Ride.NetworkID == m.NetworkID && h.MonthMetroFen >= m.ThresholdFen {
		// Round the discount to the nearest fen, halves in the rider's favour.
		off := (f.BaseFen*m.DiscountBps + 5000) / 10000
		f.discount(AdjustMonthlyMetroDiscount, off, fmt.Sprintf("%s off: metro spending this month %s reached %s before this ride",
			percent(m.DiscountBps), yuan(h.MonthMetroFen), yuan(m.ThresholdFen)))
	}
	if p := h.Previous; p != nil {
		if err := e.transfer(&f, *p); err != nil {
			return Fare{}, err
		}
	}
	return f, nil
}

// transfer applies the transfer rule from the previous ride, if any, and
// fills in the ride's journey.
func (e *Engine) transfer(f *Fare, prev Priced) error {
	if prev.TapIn.IsZero() || prev.TapIn.After(f.Ride.TapIn) {
		return fmt.Errorf("%w: the previous ride must have tapped in before this one", ErrBadRide)
	}
	from, ok := e.rules.legGroup[prev.NetworkID]
	if !ok {
		return fmt.Errorf("%w: the previous ride's network %q is not in the rules", ErrBadRide, prev.NetworkID)
	}
	start := prev.ChainStart
	if start.IsZero() {
		start = prev.TapIn
	}
	rule, ok := e.rules.transfers[[2]string{from, e.rules.legGroup[f.Ride.NetworkID]}]
	if !ok || prev.ChainTransfers >= e.rules.maxTransfers || f.Ride.TapIn.Sub(start) > rule.within {
		return nil // this ride starts a new journey
	}
	f.Ride.ChainStart = start
	f.Ride.ChainTransfers = prev.ChainTransfers + 1
	f.Ride.TransferDiscounted = true
	f.discount(AdjustTransferDiscount, -rule.product.fen, fmt.Sprintf("%s: %s after %s, within %d minutes of the journey's first tap-in at %s",
		nameOr(rule.product), f.Ride.Mode, prev.Mode, int64(rule.within/time.Minute), start.In(e.rules.loc).Format("15:04")))
	return nil
}

// discount takes off up to off fen (never below zero) and records it.
func (f *Fare) discount(code string, off int64, detail string) {
	off = min(off, f.ChargedFen)
	if off <= 0 {
		return
	}
	f.ChargedFen -= off
	f.Adjustments = append(f.Adjustments, Adjustment{Code: code, AmountFen: -off, Detail: detail})
}

func (e *Engine) metroBase(r Ride) (Fare, error) {
	if r.RouteID != "" {
		return Fare{}, fmt.Errorf("%w: a metro ride names no route (got %q): it is priced by distance", ErrBadRide, r.RouteID)
	}
	from, ok := e.station[r.EntryStop]
	if !ok {
		return Fare{}, fmt.Errorf("%w: %q is not a metro station", ErrUnknownStop, r.EntryStop)
	}
	f := Fare{Ride: Priced{NetworkID: e.rules.metroNetwork}}
	switch {
	case r.ExitStop == "" && !r.TapOut.IsZero():
		return Fare{}, fmt.Errorf("%w: a tap-out time without an exit station", ErrBadRide)
	case r.ExitStop == "":
		b := e.maxFrom[from]
		f.setBase(BasisMissingTapOutMax, b.product, fmt.Sprintf("%s: no tap-out, the highest fare from %s", priced(b.product), e.stops[r.EntryStop].Name))
		return f, nil
	}
	to, ok := e.station[r.ExitStop]
	if !ok {
		return Fare{}, fmt.Errorf("%w: %q is not a metro station", ErrUnknownStop, r.ExitStop)
	}
	switch {
	case r.TapOut.IsZero():
		return Fare{}, fmt.Errorf("%w: an exit station without a tap-out time", ErrBadRide)
	case r.TapOut.Before(r.TapIn):
		return Fare{}, fmt.Errorf("%w: tap-out before tap-in", ErrBadRide)
	case r.TapOut.Sub(r.TapIn) > e.rules.tapOutLimit:
		b := e.maxFrom[from]
		f.setBase(BasisOvertimeMax, b.product, fmt.Sprintf("%s: tapped out more than %s after tap-in, the highest fare from %s", priced(b.product), e.rules.tapOutLimit, e.stops[r.EntryStop].Name))
	case from == to:
		b := e.rules.bands[0]
		f.setBase(BasisSameStationMin, b.product, fmt.Sprintf("%s: tapped out at the entry station, the lowest fare", priced(b.product)))
	default:
		d := e.dist.at(from, to)
		b := e.rules.bandFor(d)
		f.DistanceM = d
		f.setBase(BasisMetroDistance, b.product, fmt.Sprintf("%s: %s by the shortest path from %s to %s", priced(b.product), km(d), e.stops[r.EntryStop].Name, e.stops[r.ExitStop].Name))
	}
	return f, nil
}

func (e *Engine) busBase(r Ride) (Fare, error) {
	route, ok := e.routes[r.RouteID]
	if !ok || route.Mode != Bus {
		return Fare{}, fmt.Errorf("%w: %q is not a bus route", ErrUnknownRoute, r.RouteID)
	}
	if _, ok := slices.BinarySearch(e.busStops[r.RouteID], r.EntryStop); !ok {
		return Fare{}, fmt.Errorf("%w: %q is not a stop of bus route %q", ErrUnknownStop, r.EntryStop, r.RouteID)
	}
	if r.ExitStop != "" || !r.TapOut.IsZero() {
		return Fare{}, fmt.Errorf("%w: a bus ride has no tap-out", ErrBadRide)
	}
	p := e.rules.flat[route.NetworkID]
	f := Fare{Ride: Priced{NetworkID: route.NetworkID}}
	f.setBase(BasisBusFlat, p, fmt.Sprintf("%s: flat fare of route %s", priced(p), nameOfRoute(route)))
	return f, nil
}

func (f *Fare) setBase(basis string, p product, detail string) {
	f.Basis, f.ProductID, f.BaseFen, f.Detail = basis, p.id, p.fen, detail
}

// Stop returns a metro station or bus stop by its GTFS stop_id.
func (e *Engine) Stop(id string) (Stop, bool) {
	s, ok := e.stops[id]
	if ok {
		s.Lines = slices.Clone(s.Lines)
	}
	return s, ok
}

// Route returns a bus route or metro line by its GTFS route_id.
func (e *Engine) Route(id string) (Route, bool) {
	r, ok := e.routes[id]
	return r, ok
}

// TapOutLimit is how long after tap-in a metro trip without a tap-out is
// priced as a missing tap-out (and a later tap-out as overtime).
func (e *Engine) TapOutLimit() time.Duration { return e.rules.tapOutLimit }

// MaxFareFen is the highest base fare of any single ride; no ride is charged more.
func (e *Engine) MaxFareFen() int64 { return e.maxFareFen }

// Month is the calendar month ("2006-01") of t in the rules' time zone, the
// month History.MonthMetroFen must cover.
func (e *Engine) Month(t time.Time) string { return t.In(e.rules.loc).Format("2006-01") }

// Location is the rules' time zone (Asia/Shanghai in the sample).
func (e *Engine) Location() *time.Location { return e.rules.loc }
