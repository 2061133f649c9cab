package fares

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyFeed copies the sample feed into a temporary directory, editing files
// with edits (file name → edit of its text).
func copyFeed(t *testing.T, edits map[string]func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(sampleFeed, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample feed: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if edit, ok := edits[filepath.Base(f)]; ok {
			edited := edit(text)
			if edited == text {
				t.Fatalf("the edit of %s changed nothing", filepath.Base(f))
			}
			text = edited
		}
		writeFile(t, filepath.Join(dir, filepath.Base(f)), text)
	}
	return dir
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace returns an edit replacing old (which must occur) with new.
func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// appendLines returns an edit adding lines at the end.
func appendLines(lines ...string) func(string) string {
	return func(s string) string { return s + strings.Join(lines, "\n") + "\n" }
}

type jsonMap = map[string]any

// copyRules writes a copy of the sample rules edited by edit, as JSON values.
func copyRules(t *testing.T, edit func(rules jsonMap)) string {
	t.Helper()
	data, err := os.ReadFile(sampleRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules jsonMap
	if err := json.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	edit(rules)
	out, err := json.MarshalIndent(rules, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fares.json")
	writeFile(t, path, string(out))
	return path
}

// rows returns the named array of the rules file.
func rows(rules jsonMap, name string) []any { return rules[name].([]any) }

// find returns the first row of array name whose field key is value.
func find(t *testing.T, rules jsonMap, name, key, value string) jsonMap {
	for _, r := range rows(rules, name) {
		if m := r.(jsonMap); m[key] == value {
			return m
		}
	}
	t.Fatalf("no %s row with %s %q", name, key, value)
	return nil
}

// drop removes the rows of array name whose field key is value.
func drop(rules jsonMap, name, key, value string) {
	var kept []any
	for _, r := range rows(rules, name) {
		if r.(jsonMap)[key] != value {
			kept = append(kept, r)
		}
	}
	rules[name] = kept
}

func ext(rules jsonMap) jsonMap { return rules["citycode_extensions"].(jsonMap) }

// TestFaresChangeWithData changes the fares by editing a copy of the rules
// file only: the same code then charges what the new data says.
func TestFaresChangeWithData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(t *testing.T, rules jsonMap)
		before []Ride
		ride   Ride
		month  int64
		want   int64
	}{
		{
			name: "metro base fare 3 → 4 yuan",
			edit: func(t *testing.T, r jsonMap) {
				find(t, r, "fare_products", "fare_product_id", "metro_3")["amount_fen"] = 400
			},
			ride: metro("shanghai_railway_station", "changshu_road", at(8, 0), 15*time.Minute), want: 400,
		},
		{
			name: "the first band widened to 7.1 km",
			edit: func(t *testing.T, r jsonMap) {
				find(t, r, "fare_leg_rules", "fare_product_id", "metro_3")["citycode_max_distance_m"] = 7100
				find(t, r, "fare_leg_rules", "fare_product_id", "metro_4")["citycode_min_distance_m"] = 7101
			},
			ride: metro("shanghai_railway_station", "hengshan_road", at(8, 0), 15*time.Minute), want: 300,
		},
		{
			name: "bus flat fare 2 → 2.50 yuan",
			edit: func(t *testing.T, r jsonMap) {
				find(t, r, "fare_products", "fare_product_id", "bus_2")["amount_fen"] = 250
			},
			ride: bus("bus_20", "bus_the_bund", at(8, 0)), want: 250,
		},
		{
			name: "transfer window 120 → 60 minutes",
			edit: func(t *testing.T, r jsonMap) {
				find(t, r, "fare_transfer_rules", "to_leg_group_id", "metro")["duration_limit"] = 3600
			},
			before: []Ride{bus("bus_20", "bus_the_bund", at(8, 0))},
			ride:   metro("peoples_square", "east_nanjing_road", at(9, 30), 5*time.Minute), want: 300,
		},
		{
			name: "a metro-to-metro transfer discount added",
			edit: func(t *testing.T, r jsonMap) {
				r["fare_transfer_rules"] = append(rows(r, "fare_transfer_rules"), jsonMap{"from_leg_group_id": "metro", "to_leg_group_id": "metro",
					"duration_limit": 7200, "duration_limit_type": 1, "fare_transfer_type": 1, "fare_product_id": "transfer_1_off"})
			},
			before: []Ride{metro("shanghai_railway_station", "peoples_square", at(8, 0), 10*time.Minute)},
			ride:   metro("peoples_square", "east_nanjing_road", at(8, 30), 5*time.Minute), want: 200,
		},
		{
			name:   "two discounted transfers per journey",
			edit:   func(t *testing.T, r jsonMap) { ext(r)["max_discounted_transfers_per_journey"] = 2 },
			before: []Ride{bus("bus_20", "bus_zhongshan_park", at(8, 0)), bus("bus_49", "bus_peoples_square", at(8, 30))},
			ride:   metro("peoples_square", "east_nanjing_road", at(9, 0), 5*time.Minute), want: 200,
		},
		{
			name: "monthly threshold 70 → 50 yuan, discount 10 → 15 %",
			edit: func(t *testing.T, r jsonMap) {
				ext(r)["monthly_spending_discount"] = jsonMap{"network_id": "sh_metro", "threshold_fen": 5000, "discount_bps": 1500}
			},
			month: 5000,
			// 15 % of 3 yuan is 45 fen: 2.55.
			ride: metro("peoples_square", "east_nanjing_road", at(8, 0), 5*time.Minute), want: 255,
		},
		{
			name:  "12.5 % of 3 yuan is 37.5 fen: the half fen goes to the rider",
			edit:  func(t *testing.T, r jsonMap) { ext(r)["monthly_spending_discount"].(jsonMap)["discount_bps"] = 1250 },
			month: 7000,
			ride:  metro("peoples_square", "east_nanjing_road", at(8, 0), 5*time.Minute), want: 262,
		},
		{
			name: "tap-out limit 4 → 2 hours",
			edit: func(t *testing.T, r jsonMap) { ext(r)["missing_tap_out"].(jsonMap)["after_seconds"] = 7200 },
			ride: metro("shanghai_railway_station", "hanzhong_road", at(8, 0), 2*time.Hour+time.Minute), want: 700,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sample := loadSample(t)
			e, err := Load(sampleFeed, copyRules(t, func(r jsonMap) { tt.edit(t, r) }))
			if err != nil {
				t.Fatalf("Load(edited rules): %v", err)
			}
			got, was := charge(t, e, tt.before, tt.ride, tt.month), charge(t, sample, tt.before, tt.ride, tt.month)
			if got != tt.want || got == was {
				t.Errorf("charged %d fen with the edited rules (%d with the sample's), want %d", got, was, tt.want)
			}
		})
	}
}

// charge prices the rides in order and returns what the last is charged.
func charge(t *testing.T, e *Engine, before []Ride, ride Ride, month int64) int64 {
	t.Helper()
	var h History
	for _, r := range before {
		f, err := e.Price(r, h)
		if err != nil {
			t.Fatal(err)
		}
		h.Previous = &f.Ride
	}
	h.MonthMetroFen = month
	f, err := e.Price(ride, h)
	if err != nil {
		t.Fatal(err)
	}
	return f.ChargedFen
}

// TestBandEdgesToTheMetre prices a constructed straight line whose stations
// sit one metre either side of each band edge.
func TestBandEdgesToTheMetre(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marks := []int64{0, 5999, 6000, 6001, 16000, 16001, 26000, 26001}
	stops := []string{"stop_id,stop_name,location_type,parent_station"}
	times := []string{"trip_id,stop_id,stop_sequence,shape_dist_traveled"}
	for i, m := range marks {
		stops = append(stops, fmt.Sprintf("km_%d,At %d m,1,", m, m), fmt.Sprintf("km_%d_p,At %d m platform,0,km_%d", m, m, m))
		times = append(times, fmt.Sprintf("edge_up,km_%d_p,%d,%d", m, i+1, m))
	}
	writeFile(t, filepath.Join(dir, "stops.txt"), strings.Join(stops, "\n"))
	writeFile(t, filepath.Join(dir, "stop_times.txt"), strings.Join(times, "\n"))
	writeFile(t, filepath.Join(dir, "routes.txt"), "route_id,route_short_name,route_type\nedge_line,E,1\n")
	writeFile(t, filepath.Join(dir, "trips.txt"), "route_id,service_id,trip_id\nedge_line,daily,edge_up\n")
	rules := copyRules(t, func(r jsonMap) {
		r["networks"] = []any{jsonMap{"network_id": "sh_metro"}}
		r["route_networks"] = []any{jsonMap{"network_id": "sh_metro", "route_id": "edge_line"}}
		drop(r, "fare_leg_rules", "leg_group_id", "bus")
		r["fare_transfer_rules"] = []any{}
	})
	e, err := Load(dir, rules)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{5999: 300, 6000: 300, 6001: 400, 16000: 400, 16001: 500, 26000: 500, 26001: 600}
	for m, fen := range want {
		f, err := e.Price(metro("km_0", fmt.Sprintf("km_%d", m), at(8, 0), time.Hour), History{})
		if err != nil || f.DistanceM != m || f.ChargedFen != fen {
			t.Errorf("0 → %d m: %d m, %d fen, %v; want %d fen", m, f.DistanceM, f.ChargedFen, err, fen)
		}
	}
}

func TestLoadRefusesBrokenData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		feed  map[string]func(string) string
		rules func(t *testing.T, r jsonMap)
		want  string // in the error
	}{
		// The feed.
		{name: "metro stop without a distance", feed: map[string]func(string) string{"stop_times.txt": replace("laoximen_l8,4,3000", "laoximen_l8,4,")}, want: "shape_dist_traveled"},
		{name: "distance going backwards", feed: map[string]func(string) string{"stop_times.txt": replace("laoximen_l8,4,3000", "laoximen_l8,4,2000")}, want: "further along"},
		{name: "one segment with two lengths", feed: map[string]func(string) string{"stop_times.txt": replace("hanzhong_road_l1,15,17700", "hanzhong_road_l1,15,17600")}, want: "in another trip"},
		{name: "a line not connected to the rest", feed: map[string]func(string) string{
			"stops.txt":      appendLines("island_a,Island A,0,1,1,", "island_b,Island B,0,1,1,", "island_a_l99,Island A,0,1,0,island_a", "island_b_l99,Island B,0,1,0,island_b"),
			"routes.txt":     appendLines("metro_99,shmetro,99,Line 99,1,"),
			"trips.txt":      appendLines("metro_99,daily,metro_99_up,0"),
			"stop_times.txt": appendLines("metro_99_up,06:00:00,06:00:00,island_a_l99,1,0", "metro_99_up,06:02:00,06:02:00,island_b_l99,2,1000"),
		}, want: "not connected"},
		{name: "duplicate stop_id", feed: map[string]func(string) string{"stops.txt": appendLines("laoximen,Laoximen again,31.2,121.4,1,")}, want: "duplicate stop_id"},
		{name: "parent that is not a station", feed: map[string]func(string) string{"stops.txt": replace("laoximen_l8,Laoximen (Line 8),31.2177,121.4882,0,laoximen", "laoximen_l8,Laoximen (Line 8),31.2177,121.4882,0,laoximen_l10")}, want: "not a station"},
		{name: "stop_times of an unknown trip", feed: map[string]func(string) string{"stop_times.txt": appendLines("ghost_trip,06:00:00,06:00:00,laoximen_l8,1,0")}, want: "unknown trip_id"},
		{name: "a tram route cannot be priced", feed: map[string]func(string) string{"routes.txt": replace("metro_8,shmetro,8,Line 8: Qufu Road - Lujiabang Road,1,", "metro_8,shmetro,8,Line 8: Qufu Road - Lujiabang Road,0,")}, want: "route_type"},
		{name: "missing required column", feed: map[string]func(string) string{"trips.txt": replace("route_id,service_id,trip_id", "route,service_id,trip_id")}, want: "missing column route_id"},

		// The rules.
		{name: "misspelt field", rules: func(t *testing.T, r jsonMap) { r["fare_prodcts"] = []any{} }, want: "unknown field"},
		{name: "a gap between bands", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_leg_rules", "fare_product_id", "metro_4")["citycode_min_distance_m"] = 6002
		}, want: "must start at 6001 m"},
		{name: "bands shorter than the network", rules: func(t *testing.T, r jsonMap) {
			for _, p := range []string{"metro_7", "metro_8", "metro_9", "metro_10"} {
				drop(r, "fare_leg_rules", "fare_product_id", p)
			}
		}, want: "longest shortest path is 53200 m"},
		{name: "a farther band cheaper", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_products", "fare_product_id", "metro_5")["amount_fen"] = 350
		}, want: "cheaper than the band before"},
		{name: "a route in no network", rules: func(t *testing.T, r jsonMap) { drop(r, "route_networks", "route_id", "bus_71") }, want: `"bus_71" is in no network`},
		{name: "a route in an unknown network", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "route_networks", "route_id", "bus_71")["network_id"] = "ferry"
		}, want: `unknown network_id "ferry"`},
		{name: "a network mixing bus and metro", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "route_networks", "route_id", "bus_71")["network_id"] = "sh_metro"
		}, want: "mixes"},
		{name: "an unknown fare product", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_leg_rules", "network_id", "sh_bus")["fare_product_id"] = "bus_9"
		}, want: `unknown fare_product_id "bus_9"`},
		{name: "a negative leg fare", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_leg_rules", "network_id", "sh_bus")["fare_product_id"] = "transfer_1_off"
		}, want: "negative amount"},
		{name: "a bus network without a fare", rules: func(t *testing.T, r jsonMap) { drop(r, "fare_leg_rules", "network_id", "sh_airport_bus") }, want: `"sh_airport_bus" has no fare`},
		{name: "a transfer that costs more", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_products", "fare_product_id", "transfer_1_off")["amount_fen"] = 100
		}, want: "amount_fen <= 0"},
		{name: "an unsupported duration_limit_type", rules: func(t *testing.T, r jsonMap) {
			find(t, r, "fare_transfer_rules", "to_leg_group_id", "bus")["duration_limit_type"] = 0
		}, want: "duration_limit_type 1"},
		{name: "no missing tap-out rule", rules: func(t *testing.T, r jsonMap) { delete(ext(r), "missing_tap_out") }, want: "missing_tap_out"},
		{name: "a discount of 0 %", rules: func(t *testing.T, r jsonMap) { ext(r)["monthly_spending_discount"].(jsonMap)["discount_bps"] = 0 }, want: "discount_bps 1..10000"},
		{name: "an unknown time zone", rules: func(t *testing.T, r jsonMap) { r["timezone"] = "Mars/Olympus" }, want: "time zone"},
		{name: "amounts in another currency", rules: func(t *testing.T, r jsonMap) { r["currency"] = "USD" }, want: "CNY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			feed, rules := sampleFeed, sampleRules
			if tt.feed != nil {
				feed = copyFeed(t, tt.feed)
			}
			if tt.rules != nil {
				rules = copyRules(t, func(r jsonMap) { tt.rules(t, r) })
			}
			e, err := Load(feed, rules)
			if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, %v; want ErrBadData mentioning %q", e, err, tt.want)
			}
		})
	}
}

func TestLoadRefusesMissingFiles(t *testing.T) {
	t.Parallel()
	dir := copyFeed(t, nil)
	if err := os.Remove(filepath.Join(dir, "stop_times.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, sampleRules); !errors.Is(err, ErrBadData) {
		t.Errorf("Load without stop_times.txt = %v, want ErrBadData", err)
	}
	if _, err := Load(sampleFeed, filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, ErrBadData) {
		t.Errorf("Load without a rules file = %v, want ErrBadData", err)
	}
}

// TestSampleIsMarkedSample keeps the shipped data plainly marked as sample data.
func TestSampleIsMarkedSample(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		filepath.Join(sampleFeed, "feed_info.txt"),
		filepath.Join(sampleFeed, "agency.txt"),
		filepath.Join(sampleFeed, "README.md"),
		sampleRules,
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "SAMPLE") {
			t.Errorf("%s does not say it is SAMPLE data", path)
		}
	}
}
