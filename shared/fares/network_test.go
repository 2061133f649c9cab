package fares

import (
	"testing"
	"time"
)

// TestShortestPathIsShortest checks the engine's distances three ways: the
// ride both on line 10 whose shortest path changes at People's Square; no
// distance longer than the one along any line between the same stations; and
// every distance equal to an independent Floyd–Warshall over the same track.
func TestShortestPathIsShortest(t *testing.T) {
	t.Parallel()
	e := loadSample(t)
	f, err := loadFeed(sampleFeed)
	if err != nil {
		t.Fatal(err)
	}
	distance := func(from, to string) int64 {
		t.Helper()
		fare, err := e.Price(metro(from, to, at(8, 0), time.Hour), History{})
		if err != nil {
			t.Fatalf("%s → %s: %v", from, to, err)
		}
		return fare.DistanceM
	}

	// Along line 10, South Shaanxi Road → North Sichuan Road is 6.7 km; by
	// lines 1 and 2 through People's Square and back on line 10 at East
	// Nanjing Road it is 1.2 + 1.0 + 1.3 + 1.0 + 1.1 = 5.6 km.
	along := alongLine(t, "metro_10_up", "south_shaanxi_road_l10", "north_sichuan_road_l10")
	if got := distance("south_shaanxi_road", "north_sichuan_road"); along != 6700 || got != 5600 {
		t.Errorf("along line 10 %d m, shortest %d m; want 6700 and 5600", along, got)
	}

	// Floyd–Warshall over the feed's track segments.
	n := len(f.stations)
	const inf = int64(1) << 60
	fw := make([][]int64, n)
	for i := range fw {
		fw[i] = make([]int64, n)
		for j := range fw[i] {
			if i != j {
				fw[i][j] = inf
			}
		}
	}
	for k, w := range f.edges {
		fw[k[0]][k[1]], fw[k[1]][k[0]] = w, w
	}
	for k := range n {
		for i := range n {
			for j := range n {
				fw[i][j] = min(fw[i][j], fw[i][k]+fw[k][j])
			}
		}
	}
	pairs := 0
	for i, a := range f.stations {
		for j, b := range f.stations {
			if i == j {
				continue
			}
			if got := distance(a, b); got != fw[i][j] {
				t.Errorf("%s → %s: engine %d m, Floyd–Warshall %d m", a, b, got, fw[i][j])
			}
			pairs++
		}
	}
	if pairs < 40*39 {
		t.Fatalf("only %d station pairs compared", pairs)
	}
}

// alongLine is the distance between two stops of a trip by its own
// shape_dist_traveled, read straight from stop_times.txt.
func alongLine(t *testing.T, trip, from, to string) int64 {
	t.Helper()
	at := map[string]int64{}
	err := readCSV(sampleFeed, "stop_times.txt", []string{"trip_id"}, func(r row) error {
		if r.get("trip_id") == trip {
			d, err := metres(r.get("shape_dist_traveled"))
			at[r.get("stop_id")] = d
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, okA := at[from]
	b, okB := at[to]
	if !okA || !okB {
		t.Fatalf("trip %s does not stop at %s and %s", trip, from, to)
	}
	return max(a-b, b-a)
}
