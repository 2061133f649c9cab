package fares

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// rulesFile is the fare rules file: GTFS Fares v2 tables as JSON arrays (same
// names and meanings, amounts in integer fen) plus clearly named extensions
// for what Fares v2 cannot express.
type rulesFile struct {
	Description       string            `json:"description"`
	Version           string            `json:"version"`
	Currency          string            `json:"currency"`
	Timezone          string            `json:"timezone"`
	Networks          []networkRow      `json:"networks"`
	RouteNetworks     []routeNetworkRow `json:"route_networks"`
	FareProducts      []fareProductRow  `json:"fare_products"`
	FareLegRules      []fareLegRuleRow  `json:"fare_leg_rules"`
	FareTransferRules []fareTransferRow `json:"fare_transfer_rules"`
	Extensions        extensionsRow     `json:"citycode_extensions"`
}

type networkRow struct {
	NetworkID   string `json:"network_id"`
	NetworkName string `json:"network_name"`
}

type routeNetworkRow struct {
	NetworkID string `json:"network_id"`
	RouteID   string `json:"route_id"`
}

type fareProductRow struct {
	FareProductID   string `json:"fare_product_id"`
	FareProductName string `json:"fare_product_name"`
	AmountFen       *int64 `json:"amount_fen"`
}

type fareLegRuleRow struct {
	LegGroupID    string `json:"leg_group_id"`
	NetworkID     string `json:"network_id"`
	FareProductID string `json:"fare_product_id"`
	// Extension (distance-based fares are not in adopted Fares v2): the band of
	// shortest-path distance this rule prices, whole metres, both ends inclusive.
	MinDistanceM *int64 `json:"citycode_min_distance_m"`
	MaxDistanceM *int64 `json:"citycode_max_distance_m"`
}

type fareTransferRow struct {
	FromLegGroupID    string `json:"from_leg_group_id"`
	ToLegGroupID      string `json:"to_leg_group_id"`
	DurationLimit     int64  `json:"duration_limit"`      // seconds
	DurationLimitType int    `json:"duration_limit_type"` // only 1: tap-in to tap-in
	FareTransferType  int    `json:"fare_transfer_type"`  // only 1: A + AB + B
	FareProductID     string `json:"fare_product_id"`     // AB: a discount (amount <= 0)
}

type extensionsRow struct {
	MaxDiscountedTransfersPerJourney int                 `json:"max_discounted_transfers_per_journey"`
	MonthlySpendingDiscount          *monthlyDiscountRow `json:"monthly_spending_discount"`
	MissingTapOut                    *missingTapOutRow   `json:"missing_tap_out"`
	SameStationExit                  *sameStationRow     `json:"same_station_exit"`
}

type monthlyDiscountRow struct {
	NetworkID    string `json:"network_id"`
	ThresholdFen int64  `json:"threshold_fen"`
	DiscountBps  int64  `json:"discount_bps"` // 1000 = 10 %
}

type missingTapOutRow struct {
	NetworkID    string `json:"network_id"`
	AfterSeconds int64  `json:"after_seconds"`
	Fare         string `json:"fare"` // only "max_fare_from_entry"
}

type sameStationRow struct {
	NetworkID string `json:"network_id"`
	Fare      string `json:"fare"` // only "min_fare"
}

func readRules(path string) (*rulesFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadData, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rf rulesFile
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadData, path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data after the rules object", ErrBadData, path)
	}
	return &rf, nil
}

// product is a fare product with its amount.
type product struct {
	id, name string
	fen      int64
}

// band prices metro rides of shortest-path distance minM..maxM metres.
type band struct {
	minM, maxM int64
	product    product
}

// transferRule discounts the ride after a ride of another (or the same) leg
// group within a time limit of the journey's first tap-in.
type transferRule struct {
	within  time.Duration
	product product
}

// rules are the validated fare rules, joined with the feed.
type rules struct {
	loc          *time.Location
	networks     map[string]string          // network_id → name
	legGroup     map[string]string          // network_id → leg_group_id
	metroNetwork string                     // the one network priced by distance
	bands        []band                     // ascending, contiguous from 0
	flat         map[string]product         // bus network_id → flat fare
	transfers    map[[2]string]transferRule // (from, to leg group)
	maxTransfers int
	monthly      *monthlyDiscountRow
	tapOutLimit  time.Duration
}

// errs collects every fault of a rules file, so one load reports them all.
type errs []string

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

// compile validates rf against the feed (routes, their modes, the longest
// shortest path) and builds the rules the engine prices with; it sets each
// feed route's NetworkID.
func compile(rf *rulesFile, f *feed, longestM int64) (*rules, error) {
	var bad errs
	r := &rules{networks: map[string]string{}, legGroup: map[string]string{}, flat: map[string]product{}, transfers: map[[2]string]transferRule{}}

	if rf.Currency != "CNY" {
		bad.add("currency %q: amounts are in fen, so the currency must be CNY", rf.Currency)
	}
	loc, err := time.LoadLocation(rf.Timezone)
	if err != nil || rf.Timezone == "" {
		bad.add("timezone %q is not an IANA time zone", rf.Timezone)
		loc = time.UTC
	}
	r.loc = loc

	for _, n := range rf.Networks {
		if n.NetworkID == "" {
			bad.add("networks: empty network_id")
		} else if _, dup := r.networks[n.NetworkID]; dup {
			bad.add("networks: duplicate network_id %q", n.NetworkID)
		}
		r.networks[n.NetworkID] = n.NetworkName
	}
	networkMode := map[string]Mode{}
	for _, rn := range rf.RouteNetworks {
		route, ok := f.routes[rn.RouteID]
		switch {
		case !ok:
			bad.add("route_networks: route_id %q is not in the feed", rn.RouteID)
			continue
		case route.NetworkID != "":
			bad.add("route_networks: route_id %q is in networks %q and %q", rn.RouteID, route.NetworkID, rn.NetworkID)
			continue
		}
		if _, ok := r.networks[rn.NetworkID]; !ok {
			bad.add("route_networks: unknown network_id %q", rn.NetworkID)
			continue
		}
		if m, ok := networkMode[rn.NetworkID]; ok && m != route.Mode {
			bad.add("route_networks: network %q mixes %s and %s routes", rn.NetworkID, m, route.Mode)
		}
		networkMode[rn.NetworkID] = route.Mode
		route.NetworkID = rn.NetworkID
		f.routes[rn.RouteID] = route
	}
	for _, id := range slices.Sorted(maps.Keys(f.routes)) {
		if f.routes[id].NetworkID == "" {
			bad.add("route_networks: feed route %q is in no network, so it could not be priced", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(r.networks)) {
		switch m, ok := networkMode[id]; {
		case !ok:
			bad.add("networks: network %q has no routes", id)
		case m == Metro && r.metroNetwork != "":
			bad.add("networks: two metro networks (%q, %q); metro rides name no route, so one network prices them all", r.metroNetwork, id)
		case m == Metro:
			r.metroNetwork = id
		}
	}
	if r.metroNetwork == "" && len(f.stations) > 0 {
		bad.add("networks: no network holds the metro lines")
	}

	products := map[string]product{}
	for _, p := range rf.FareProducts {
		switch {
		case p.FareProductID == "":
			bad.add("fare_products: empty fare_product_id")
		case p.AmountFen == nil:
			bad.add("fare_products: %q has no amount_fen", p.FareProductID)
		default:
			if _, dup := products[p.FareProductID]; dup {
				bad.add("fare_products: duplicate fare_product_id %q", p.FareProductID)
			}
			products[p.FareProductID] = product{id: p.FareProductID, name: p.FareProductName, fen: *p.AmountFen}
		}
	}
	legProduct := func(where, id string) (product, bool) {
		p, ok := products[id]
		if !ok {
			bad.add("%s: unknown fare_product_id %q", where, id)
		} else if p.fen < 0 {
			bad.add("%s: fare product %q has a negative amount; only transfer products may", where, id)
			ok = false
		}
		return p, ok
	}

	for i, lr := range rf.FareLegRules {
		where := fmt.Sprintf("fare_leg_rules[%d]", i)
		mode, ok := networkMode[lr.NetworkID]
		if !ok {
			bad.add("%s: network_id %q has no routes", where, lr.NetworkID)
			continue
		}
		if lr.LegGroupID == "" {
			bad.add("%s: empty leg_group_id", where)
		}
		if g, ok := r.legGroup[lr.NetworkID]; ok && g != lr.LegGroupID {
			bad.add("%s: network %q is in leg groups %q and %q", where, lr.NetworkID, g, lr.LegGroupID)
		}
		r.legGroup[lr.NetworkID] = lr.LegGroupID
		p, ok := legProduct(where, lr.FareProductID)
		if !ok {
			continue
		}
		switch mode {
		case Metro:
			if lr.MinDistanceM == nil || lr.MaxDistanceM == nil {
				bad.add("%s: metro network %q is priced by distance: citycode_min_distance_m and citycode_max_distance_m are required", where, lr.NetworkID)
				continue
			}
			r.bands = append(r.bands, band{minM: *lr.MinDistanceM, maxM: *lr.MaxDistanceM, product: p})
		case Bus:
			if lr.MinDistanceM != nil || lr.MaxDistanceM != nil {
				bad.add("%s: bus network %q has a flat fare: no distances", where, lr.NetworkID)
			}
			if _, dup := r.flat[lr.NetworkID]; dup {
				bad.add("%s: bus network %q has two fares", where, lr.NetworkID)
			}
			r.flat[lr.NetworkID] = p
		}
	}
	for _, id := range slices.Sorted(maps.Keys(networkMode)) {
		if networkMode[id] == Bus {
			if _, ok := r.flat[id]; !ok {
				bad.add("fare_leg_rules: bus network %q has no fare", id)
			}
		}
	}
	checkBands(&bad, r.bands, longestM)

	groups := map[string]bool{}
	for _, g := range r.legGroup {
		groups[g] = true
	}
	for i, tr := range rf.FareTransferRules {
		where := fmt.Sprintf("fare_transfer_rules[%d]", i)
		if !groups[tr.FromLegGroupID] || !groups[tr.ToLegGroupID] {
			bad.add("%s: unknown leg group %q or %q", where, tr.FromLegGroupID, tr.ToLegGroupID)
		}
		if tr.DurationLimit <= 0 || tr.DurationLimitType != 1 {
			bad.add("%s: needs duration_limit > 0 seconds and duration_limit_type 1 (tap-in to tap-in)", where)
		}
		if tr.FareTransferType != 1 {
			bad.add("%s: fare_transfer_type must be 1 (A + AB + B, AB a discount)", where)
		}
		p, ok := products[tr.FareProductID]
		if !ok || p.fen > 0 {
			bad.add("%s: fare_product_id %q must be a fare product with amount_fen <= 0", where, tr.FareProductID)
		}
		key := [2]string{tr.FromLegGroupID, tr.ToLegGroupID}
		if _, dup := r.transfers[key]; dup {
			bad.add("%s: a second rule from %q to %q", where, key[0], key[1])
		}
		r.transfers[key] = transferRule{within: time.Duration(tr.DurationLimit) * time.Second, product: p}
	}

	ext := rf.Extensions
	r.maxTransfers = ext.MaxDiscountedTransfersPerJourney
	if len(r.transfers) > 0 && r.maxTransfers < 1 {
		bad.add("citycode_extensions.max_discounted_transfers_per_journey must be at least 1 when there are transfer rules")
	}
	if m := ext.MonthlySpendingDiscount; m != nil {
		if m.NetworkID != r.metroNetwork || m.ThresholdFen < 0 || m.DiscountBps < 1 || m.DiscountBps > 10000 {
			bad.add("citycode_extensions.monthly_spending_discount: needs the metro network %q, threshold_fen >= 0 and discount_bps 1..10000", r.metroNetwork)
		}
		r.monthly = m
	}
	if m := ext.MissingTapOut; m == nil || m.NetworkID != r.metroNetwork || m.AfterSeconds <= 0 || m.Fare != "max_fare_from_entry" {
		bad.add("citycode_extensions.missing_tap_out: needs the metro network %q, after_seconds > 0 and fare \"max_fare_from_entry\"", r.metroNetwork)
	} else {
		r.tapOutLimit = time.Duration(m.AfterSeconds) * time.Second
	}
	if s := ext.SameStationExit; s == nil || s.NetworkID != r.metroNetwork || s.Fare != "min_fare" {
		bad.add("citycode_extensions.same_station_exit: needs the metro network %q and fare \"min_fare\"", r.metroNetwork)
	}

	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: rules: %s", ErrBadData, joinErrs(bad))
	}
	return r, nil
}

// checkBands requires metro bands in ascending order, contiguous from 0 m,
// reaching the longest shortest path of the network, never getting cheaper.
func checkBands(bad *errs, bands []band, longestM int64) {
	if len(bands) == 0 {
		bad.add("fare_leg_rules: the metro network has no distance bands")
		return
	}
	next := int64(0)
	for i, b := range bands {
		if b.minM != next || b.maxM < b.minM {
			bad.add("fare_leg_rules: metro band %d (%d–%d m) must start at %d m and not end before it starts", i, b.minM, b.maxM, next)
			return
		}
		if i > 0 && b.product.fen < bands[i-1].product.fen {
			bad.add("fare_leg_rules: metro band %d (%d–%d m) is cheaper than the band before it", i, b.minM, b.maxM)
		}
		next = b.maxM + 1
	}
	if last := bands[len(bands)-1].maxM; last < longestM {
		bad.add("fare_leg_rules: metro bands end at %d m but the network's longest shortest path is %d m", last, longestM)
	}
}

func joinErrs(e errs) string {
	const most = 10
	if len(e) > most {
		return strings.Join(e[:most], "; ") + fmt.Sprintf("; and %d more", len(e)-most)
	}
	return strings.Join(e, "; ")
}
