package fares

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	sampleFeed  = "../../infra/transit/gtfs"
	sampleRules = "../../infra/transit/fares.json"
)

func loadSample(t testing.TB) *Engine {
	t.Helper()
	e, err := Load(sampleFeed, sampleRules)
	if err != nil {
		t.Fatalf("Load(sample): %v", err)
	}
	return e
}

// shanghai is the sample rules' time zone, fixed here so the test rows do
// not depend on the engine they test.
var shanghai = time.FixedZone("CST", 8*3600)

// at is a time on Monday 2 March 2026 in Shanghai.
func at(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, shanghai) }

func metro(from, to string, in time.Time, took time.Duration) Ride {
	r := Ride{Mode: Metro, EntryStop: from, ExitStop: to, TapIn: in}
	if to != "" {
		r.TapOut = in.Add(took)
	}
	return r
}

func bus(route, stop string, in time.Time) Ride {
	return Ride{Mode: Bus, RouteID: route, EntryStop: stop, TapIn: in}
}

// outcome is what a journey row checks of a Fare (Detail texts are for people).
type outcome struct {
	Base, Charged, Distance int64
	Basis                   string
	Adjustments             map[string]int64
	Discounted              bool
}

func outcomeOf(f Fare) outcome {
	o := outcome{Base: f.BaseFen, Charged: f.ChargedFen, Distance: f.DistanceM, Basis: f.Basis, Discounted: f.Ride.TransferDiscounted}
	for _, a := range f.Adjustments {
		if o.Adjustments == nil {
			o.Adjustments = map[string]int64{}
		}
		o.Adjustments[a.Code] += a.AmountFen
	}
	return o
}

func plain(basis string, dist, fen int64) outcome {
	return outcome{Base: fen, Charged: fen, Distance: dist, Basis: basis}
}

func TestPriceJourneys(t *testing.T) {
	t.Parallel()
	e := loadSample(t)
	const (
		srs      = "shanghai_railway_station"
		ps       = "peoples_square"
		transfer = AdjustTransferDiscount
		monthly  = AdjustMonthlyMetroDiscount
	)
	tests := []struct {
		name   string
		before []Ride // earlier rides of the same holder, oldest first
		ride   Ride
		month  int64 // metro fen already charged this month
		want   outcome
	}{
		// Metro by shortest-path distance: 3 yuan up to 6 km, +1 yuan per further 10 km or part.
		{name: "one stop, 1.1 km: 3 yuan", ride: metro(srs, "hanzhong_road", at(8, 0), 5*time.Minute), want: plain(BasisMetroDistance, 1100, 300)},
		{name: "People's Square to East Nanjing Road on line 2, 1.3 km: 3 yuan", ride: metro(ps, "east_nanjing_road", at(8, 0), 5*time.Minute), want: plain(BasisMetroDistance, 1300, 300)},
		{name: "exactly 6 km is still the first band: 3 yuan", ride: metro(srs, "changshu_road", at(8, 0), 15*time.Minute), want: plain(BasisMetroDistance, 6000, 300)},
		{name: "exactly 6 km the other way: 3 yuan", ride: metro("changshu_road", srs, at(8, 0), 15*time.Minute), want: plain(BasisMetroDistance, 6000, 300)},
		{name: "one station past 6 km, 7.1 km: 4 yuan", ride: metro(srs, "hengshan_road", at(8, 0), 15*time.Minute), want: plain(BasisMetroDistance, 7100, 400)},
		{name: "exactly 16 km on line 1: 4 yuan", ride: metro(srs, "lianhua_road", at(8, 0), 30*time.Minute), want: plain(BasisMetroDistance, 16000, 400)},
		{name: "exactly 16 km on line 10: 4 yuan", ride: metro("hongqiao_railway_station", "south_shaanxi_road", at(8, 0), 30*time.Minute), want: plain(BasisMetroDistance, 16000, 400)},
		{name: "one station past 16 km, 17.3 km: 5 yuan", ride: metro(srs, "waihuan_road", at(8, 0), 30*time.Minute), want: plain(BasisMetroDistance, 17300, 500)},
		{name: "exactly 26 km through the People's Square interchange: 5 yuan", ride: metro(srs, "chuansha", at(8, 0), 50*time.Minute), want: plain(BasisMetroDistance, 26000, 500)},
		{name: "one station past 26 km, 27.1 km: 6 yuan", ride: metro("hengshan_road", "chuansha", at(8, 0), 50*time.Minute), want: plain(BasisMetroDistance, 27100, 600)},
		{name: "Xinzhuang to Pudong Airport, 50.8 km: 3 + 5 bands = 8 yuan", ride: metro("xinzhuang", "pudong_international_airport", at(8, 0), 90*time.Minute), want: plain(BasisMetroDistance, 50800, 800)},
		{name: "both on line 10 but 5.6 km through People's Square beats 6.7 km along line 10: 3 yuan, not 4", ride: metro("south_shaanxi_road", "north_sichuan_road", at(8, 0), 20*time.Minute), want: plain(BasisMetroDistance, 5600, 300)},
		{name: "tap-out exactly at the 4 h limit is an ordinary trip", ride: metro(srs, "hanzhong_road", at(8, 0), 4*time.Hour), want: plain(BasisMetroDistance, 1100, 300)},

		// Exits that are not ordinary trips.
		{name: "exit at the entry station: the lowest fare, 3 yuan", ride: metro(ps, ps, at(8, 0), 10*time.Minute), want: plain(BasisSameStationMin, 0, 300)},
		{name: "no tap-out from Shanghai Railway Station: farthest is Pudong Airport at 38 km, 7 yuan", ride: metro(srs, "", at(8, 0), 0), want: plain(BasisMissingTapOutMax, 0, 700)},
		{name: "no tap-out from People's Square: farthest is Pudong Airport at 35 km, 6 yuan", ride: metro(ps, "", at(8, 0), 0), want: plain(BasisMissingTapOutMax, 0, 600)},
		{name: "no tap-out from Pudong Airport: farthest is Hongqiao Railway Station at 53.2 km, 8 yuan", ride: metro("pudong_international_airport", "", at(8, 0), 0), want: plain(BasisMissingTapOutMax, 0, 800)},
		{name: "tap-out a minute after the 4 h limit: the highest fare from the entry, 7 yuan", ride: metro(srs, "hanzhong_road", at(8, 0), 4*time.Hour+time.Minute), want: plain(BasisOvertimeMax, 0, 700)},

		// Buses: a flat fare per route.
		{name: "bus 20: 2 yuan", ride: bus("bus_20", "bus_jingan_temple", at(8, 0)), want: plain(BasisBusFlat, 0, 200)},
		{name: "bus 49 from a stop shared with bus 20 and 71: 2 yuan", ride: bus("bus_49", "bus_peoples_square", at(8, 0)), want: plain(BasisBusFlat, 0, 200)},
		{name: "Airport Line 1: its own flat fare, 30 yuan", ride: bus("bus_airport_1", "bus_pudong_airport_t2", at(8, 0)), want: plain(BasisBusFlat, 0, 3000)},

		// Transfers: 1 yuan off the second ride within 120 min of the first tap-in, bus→bus and bus→metro only.
		{name: "bus then bus an hour later: 2 − 1 = 1 yuan",
			before: []Ride{bus("bus_20", "bus_zhongshan_park", at(8, 0))}, ride: bus("bus_49", "bus_peoples_square", at(9, 0)),
			want: outcome{Base: 200, Charged: 100, Basis: BasisBusFlat, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},
		{name: "bus then metro 90 min later: 3 − 1 = 2 yuan",
			before: []Ride{bus("bus_71", "bus_shenkun_road_hub", at(8, 0))}, ride: metro(ps, "east_nanjing_road", at(9, 30), 5*time.Minute),
			want: outcome{Base: 300, Charged: 200, Distance: 1300, Basis: BasisMetroDistance, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},
		{name: "bus then metro exactly 120 min after the bus tap-in: still discounted",
			before: []Ride{bus("bus_71", "bus_shenkun_road_hub", at(8, 0))}, ride: metro(ps, "east_nanjing_road", at(10, 0), 5*time.Minute),
			want: outcome{Base: 300, Charged: 200, Distance: 1300, Basis: BasisMetroDistance, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},
		{name: "bus then metro 121 min after the bus tap-in: full fare",
			before: []Ride{bus("bus_71", "bus_shenkun_road_hub", at(8, 0))}, ride: metro(ps, "east_nanjing_road", at(10, 1), 5*time.Minute),
			want: plain(BasisMetroDistance, 1300, 300)},
		{name: "metro then metro 30 min later: no metro-to-metro discount",
			before: []Ride{metro(srs, "hanzhong_road", at(8, 0), 5*time.Minute)}, ride: metro(ps, "east_nanjing_road", at(8, 30), 5*time.Minute),
			want: plain(BasisMetroDistance, 1300, 300)},
		{name: "metro then bus 30 min later: no metro-to-bus discount",
			before: []Ride{metro(srs, "hanzhong_road", at(8, 0), 5*time.Minute)}, ride: bus("bus_20", "bus_peoples_square", at(8, 30)),
			want: plain(BasisBusFlat, 0, 200)},
		{name: "bus, bus (discounted), metro: the third ride gets no second discount",
			before: []Ride{bus("bus_20", "bus_zhongshan_park", at(8, 0)), bus("bus_49", "bus_peoples_square", at(8, 30))}, ride: metro(ps, "east_nanjing_road", at(9, 0), 5*time.Minute),
			want: plain(BasisMetroDistance, 1300, 300)},
		{name: "metro, bus, bus: the first bus starts the journey, so the second bus is discounted",
			before: []Ride{metro(srs, ps, at(8, 0), 10*time.Minute), bus("bus_20", "bus_peoples_square", at(8, 30))}, ride: bus("bus_49", "bus_peoples_square", at(9, 0)),
			want: outcome{Base: 200, Charged: 100, Basis: BasisBusFlat, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},
		{name: "bus, bus (discounted) then bus 3 h later: a new journey, not discounted",
			before: []Ride{bus("bus_20", "bus_zhongshan_park", at(8, 0)), bus("bus_49", "bus_peoples_square", at(8, 30))}, ride: bus("bus_71", "bus_peoples_square", at(11, 0)),
			want: plain(BasisBusFlat, 0, 200)},
		{name: "bus then the airport bus: 30 − 1 = 29 yuan",
			before: []Ride{bus("bus_20", "bus_zhongshan_park", at(8, 0))}, ride: bus("bus_airport_1", "bus_hongqiao_hub", at(9, 0)),
			want: outcome{Base: 3000, Charged: 2900, Basis: BasisBusFlat, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},
		{name: "airport bus then metro 16 km: 4 − 1 = 3 yuan",
			before: []Ride{bus("bus_airport_1", "bus_pudong_airport_t1", at(8, 0))}, ride: metro("hongqiao_railway_station", "south_shaanxi_road", at(9, 15), 30*time.Minute),
			want: outcome{Base: 400, Charged: 300, Distance: 16000, Basis: BasisMetroDistance, Adjustments: map[string]int64{transfer: -100}, Discounted: true}},

		// Monthly: 10 % off metro rides once this month's metro spending has reached 70 yuan.
		{name: "68 yuan spent: this 4-yuan ride crosses 70 yuan but is charged in full", month: 6800,
			ride: metro(srs, "lianhua_road", at(8, 0), 30*time.Minute), want: plain(BasisMetroDistance, 16000, 400)},
		{name: "69.99 yuan spent: still full fare", month: 6999,
			ride: metro(srs, "lianhua_road", at(8, 0), 30*time.Minute), want: plain(BasisMetroDistance, 16000, 400)},
		{name: "exactly 70 yuan spent: 4 yuan − 10 % = 3.60", month: 7000,
			ride: metro(srs, "lianhua_road", at(8, 0), 30*time.Minute),
			want: outcome{Base: 400, Charged: 360, Distance: 16000, Basis: BasisMetroDistance, Adjustments: map[string]int64{monthly: -40}}},
		{name: "90 yuan spent: 5 yuan − 10 % = 4.50", month: 9000,
			ride: metro(srs, "chuansha", at(8, 0), 50*time.Minute),
			want: outcome{Base: 500, Charged: 450, Distance: 26000, Basis: BasisMetroDistance, Adjustments: map[string]int64{monthly: -50}}},
		{name: "the metro spending discount does not apply to buses", month: 9000,
			ride: bus("bus_20", "bus_jingan_temple", at(8, 0)), want: plain(BasisBusFlat, 0, 200)},
		{name: "both discounts: bus then metro past 70 yuan: 4 − 0.40 − 1 = 2.60", month: 7000,
			before: []Ride{bus("bus_71", "bus_shenkun_road_hub", at(8, 0))}, ride: metro(srs, "lianhua_road", at(8, 40), 30*time.Minute),
			want: outcome{Base: 400, Charged: 260, Distance: 16000, Basis: BasisMetroDistance, Adjustments: map[string]int64{monthly: -40, transfer: -100}, Discounted: true}},
		{name: "same-station exit past 70 yuan: 3 − 0.30 = 2.70", month: 7000,
			ride: metro(ps, ps, at(8, 0), 10*time.Minute),
			want: outcome{Base: 300, Charged: 270, Basis: BasisSameStationMin, Adjustments: map[string]int64{monthly: -30}}},
		{name: "missing tap-out past 70 yuan: 7 − 0.70 = 6.30", month: 7000,
			ride: metro(srs, "", at(8, 0), 0),
			want: outcome{Base: 700, Charged: 630, Basis: BasisMissingTapOutMax, Adjustments: map[string]int64{monthly: -70}}},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d journeys; the issue asks for at least 30", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h History
			for _, r := range tt.before {
				f, err := e.Price(r, h)
				if err != nil {
					t.Fatalf("pricing an earlier ride: %v", err)
				}
				h.Previous = &f.Ride
			}
			h.MonthMetroFen = tt.month
			got, err := e.Price(tt.ride, h)
			if err != nil {
				t.Fatalf("Price: %v", err)
			}
			if diff := cmp.Diff(tt.want, outcomeOf(got)); diff != "" {
				t.Errorf("fare (-want +got):\n%s\ndetail: %s", diff, got.Detail)
			}
		})
	}
}

func TestPriceRecordsTheJourney(t *testing.T) {
	t.Parallel()
	e := loadSample(t)
	first, err := e.Price(bus("bus_20", "bus_zhongshan_park", at(8, 0)), History{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Price(metro("peoples_square", "lujiazui", at(8, 40), 10*time.Minute), History{Previous: &first.Ride})
	if err != nil {
		t.Fatal(err)
	}
	want := []Priced{
		{Mode: Bus, NetworkID: "sh_bus", TapIn: at(8, 0), ChainStart: at(8, 0)},
		{Mode: Metro, NetworkID: "sh_metro", TapIn: at(8, 40), ChainStart: at(8, 0), ChainTransfers: 1, TransferDiscounted: true},
	}
	if diff := cmp.Diff(want, []Priced{first.Ride, second.Ride}); diff != "" {
		t.Errorf("journey (-want +got):\n%s", diff)
	}
	if second.BaseFen+second.Adjustments[0].AmountFen != second.ChargedFen || second.Adjustments[0].Detail == "" || second.Detail == "" || second.RulesVersion != "sample-2026.1" {
		t.Errorf("fare not explained: %+v", second)
	}
}

func TestPriceRefusesBadRides(t *testing.T) {
	t.Parallel()
	e := loadSample(t)
	later := Priced{Mode: Bus, NetworkID: "sh_bus", TapIn: at(9, 0)}
	unknownNet := Priced{Mode: Bus, NetworkID: "tram", TapIn: at(7, 0)}
	tests := []struct {
		name string
		ride Ride
		h    History
		want error
	}{
		{"unknown entry station", metro("atlantis", "peoples_square", at(8, 0), time.Minute), History{}, ErrUnknownStop},
		{"unknown exit station", metro("peoples_square", "atlantis", at(8, 0), time.Minute), History{}, ErrUnknownStop},
		{"a platform is not a station", metro("peoples_square_l1", "xujiahui", at(8, 0), time.Minute), History{}, ErrUnknownStop},
		{"a bus stop is not a metro station", metro("bus_peoples_square", "xujiahui", at(8, 0), time.Minute), History{}, ErrUnknownStop},
		{"unknown bus route", bus("bus_999", "bus_peoples_square", at(8, 0)), History{}, ErrUnknownRoute},
		{"a metro line is not a bus route", bus("metro_1", "peoples_square", at(8, 0)), History{}, ErrUnknownRoute},
		{"a stop the route does not serve", bus("bus_airport_1", "bus_peoples_square", at(8, 0)), History{}, ErrUnknownStop},
		{"exit before entry", metro("peoples_square", "xujiahui", at(8, 0), -time.Minute), History{}, ErrBadRide},
		{"no tap-in time", Ride{Mode: Metro, EntryStop: "peoples_square"}, History{}, ErrBadRide},
		{"exit station without a tap-out time", Ride{Mode: Metro, EntryStop: "peoples_square", ExitStop: "xujiahui", TapIn: at(8, 0)}, History{}, ErrBadRide},
		{"tap-out time without an exit station", Ride{Mode: Metro, EntryStop: "peoples_square", TapIn: at(8, 0), TapOut: at(8, 10)}, History{}, ErrBadRide},
		{"a metro ride names a line", Ride{Mode: Metro, RouteID: "metro_1", EntryStop: "peoples_square", ExitStop: "xujiahui", TapIn: at(8, 0), TapOut: at(8, 10)}, History{}, ErrBadRide},
		{"a bus ride with a tap-out", Ride{Mode: Bus, RouteID: "bus_20", EntryStop: "bus_peoples_square", ExitStop: "bus_the_bund", TapIn: at(8, 0), TapOut: at(8, 10)}, History{}, ErrBadRide},
		{"unknown mode", Ride{Mode: "ferry", EntryStop: "peoples_square", TapIn: at(8, 0)}, History{}, ErrBadRide},
		{"previous ride after this one", bus("bus_20", "bus_peoples_square", at(8, 0)), History{Previous: &later}, ErrBadRide},
		{"previous ride in an unknown network", bus("bus_20", "bus_peoples_square", at(8, 0)), History{Previous: &unknownNet}, ErrBadRide},
		{"negative monthly spending", bus("bus_20", "bus_peoples_square", at(8, 0)), History{MonthMetroFen: -1}, ErrBadRide},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := e.Price(tt.ride, tt.h)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Price = %+v, %v; want %v", f, err, tt.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	e := loadSample(t)
	stop, ok := e.Stop("peoples_square")
	if diff := cmp.Diff(Stop{ID: "peoples_square", Name: "People's Square", Mode: Metro, Lines: []string{"metro_1", "metro_2", "metro_8"}}, stop); !ok || diff != "" {
		t.Errorf("Stop(peoples_square) (-want +got):\n%s", diff)
	}
	stop, ok = e.Stop("bus_peoples_square")
	if diff := cmp.Diff(Stop{ID: "bus_peoples_square", Name: "People's Square (Middle Xizang Road)", Mode: Bus, Lines: []string{"bus_20", "bus_49", "bus_71"}}, stop); !ok || diff != "" {
		t.Errorf("Stop(bus_peoples_square) (-want +got):\n%s", diff)
	}
	if _, ok := e.Stop("peoples_square_l1"); ok {
		t.Error("a platform is found as a stop; rides name stations")
	}
	route, ok := e.Route("bus_airport_1")
	if diff := cmp.Diff(Route{ID: "bus_airport_1", ShortName: "Airport Line 1", LongName: "Pudong Airport - Hongqiao Transport Hub", Mode: Bus, NetworkID: "sh_airport_bus"}, route); !ok || diff != "" {
		t.Errorf("Route(bus_airport_1) (-want +got):\n%s", diff)
	}
	if r, ok := e.Route("metro_10"); !ok || r.Mode != Metro || r.NetworkID != "sh_metro" {
		t.Errorf("Route(metro_10) = %+v, %v", r, ok)
	}
	if _, ok := e.Route("bus_999"); ok {
		t.Error("Route(bus_999) found")
	}
	if got := e.TapOutLimit(); got != 4*time.Hour {
		t.Errorf("TapOutLimit = %v, want 4h", got)
	}
	if got := e.MaxFareFen(); got != 3000 {
		t.Errorf("MaxFareFen = %d, want 3000 (the airport bus)", got)
	}
	// 16:30 UTC on 31 March is 00:30 on 1 April in Shanghai.
	if got := e.Month(time.Date(2026, 3, 31, 16, 30, 0, 0, time.UTC)); got != "2026-04" {
		t.Errorf("Month = %s, want 2026-04", got)
	}
}
