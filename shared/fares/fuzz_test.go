package fares

import (
	"slices"
	"testing"
	"time"
)

// FuzzPrice prices arbitrary rides after arbitrary previous rides: whatever
// the input, a priced fare is never negative, never above the highest fare,
// never above its base, and its adjustments add up.
func FuzzPrice(f *testing.F) {
	e := loadSample(f)
	var stations, busStops []string
	for id, s := range e.stops {
		if s.Mode == Metro {
			stations = append(stations, id)
		} else {
			busStops = append(busStops, id)
		}
	}
	slices.Sort(stations)
	slices.Sort(busStops)
	routes := []string{"bus_20", "bus_49", "bus_71", "bus_airport_1"}
	f.Add(uint8(0), uint8(1), false, int64(600), false, int64(-600), int64(0), uint8(0))
	f.Add(uint8(3), uint8(3), false, int64(20000), true, int64(-7200), int64(7000), uint8(1))
	f.Add(uint8(7), uint8(255), true, int64(0), true, int64(-60), int64(1<<40), uint8(0))
	f.Fuzz(func(t *testing.T, entry, exit uint8, isBus bool, ride int64, prevBus bool, prevAgo int64, month int64, transfers uint8) {
		in := time.Date(2026, 3, 2, 8, 0, 0, 0, shanghai)
		var r Ride
		if isBus {
			route := routes[int(entry)%len(routes)]
			r = bus(route, e.busStops[route][int(exit)%len(e.busStops[route])], in)
		} else {
			to := ""
			if int(exit) < len(stations) {
				to = stations[exit]
			}
			r = metro(stations[int(entry)%len(stations)], to, in, time.Duration(ride)*time.Second)
		}
		prev := Priced{Mode: Metro, NetworkID: "sh_metro", TapIn: in.Add(time.Duration(prevAgo) * time.Second), ChainTransfers: int(transfers % 3)}
		if prevBus {
			prev.Mode, prev.NetworkID = Bus, "sh_bus"
		}
		fare, err := e.Price(r, History{Previous: &prev, MonthMetroFen: month})
		if err != nil {
			return // refused rides are checked elsewhere
		}
		sum := fare.BaseFen
		for _, a := range fare.Adjustments {
			if a.AmountFen >= 0 {
				t.Errorf("adjustment %+v is not a discount", a)
			}
			sum += a.AmountFen
		}
		if fare.ChargedFen < 0 || fare.ChargedFen > fare.BaseFen || fare.BaseFen > e.MaxFareFen() || sum != fare.ChargedFen {
			t.Errorf("ride %+v: base %d, charged %d, adjustments %+v, max %d", r, fare.BaseFen, fare.ChargedFen, fare.Adjustments, e.MaxFareFen())
		}
	})
}

// BenchmarkPrice is the fare computation of one trip: a metro ride after a
// bus ride (transfer rule looked up) past the monthly threshold.
func BenchmarkPrice(b *testing.B) {
	e := loadSample(b)
	in := time.Date(2026, 3, 2, 8, 0, 0, 0, shanghai)
	prev := Priced{Mode: Bus, NetworkID: "sh_bus", TapIn: in.Add(-30 * time.Minute), ChainStart: in.Add(-30 * time.Minute)}
	r := metro("hongqiao_railway_station", "pudong_international_airport", in, 90*time.Minute)
	h := History{Previous: &prev, MonthMetroFen: 8000}
	for b.Loop() {
		if _, err := e.Price(r, h); err != nil {
			b.Fatal(err)
		}
	}
}
