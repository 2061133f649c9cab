package fares

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// feed is the part of a GTFS feed the fare engine needs.
type feed struct {
	stops    map[string]Stop     // rideable stops: metro stations and bus stops
	routes   map[string]Route    // NetworkID filled in later from the rules
	busStops map[string][]string // bus route_id → the stops its trips serve, sorted
	stations []string            // metro station ids, sorted; index = graph node
	edges    map[[2]int]int64    // undirected track segments between stations (lower index first), metres
}

// GTFS route_type values the engine prices.
const (
	routeTypeSubway = "1"
	routeTypeBus    = "3"
)

type gtfsStop struct {
	name         string
	locationType string // "" or "0" stop/platform, "1" station
	parent       string
}

// loadFeed reads stops, routes, trips and stop_times from a GTFS directory.
func loadFeed(dir string) (*feed, error) {
	stops := map[string]gtfsStop{}
	err := readCSV(dir, "stops.txt", []string{"stop_id", "stop_name"}, func(r row) error {
		id := r.get("stop_id")
		if _, dup := stops[id]; dup {
			return fmt.Errorf("duplicate stop_id %q", id)
		}
		s := gtfsStop{name: r.get("stop_name"), locationType: r.get("location_type"), parent: r.get("parent_station")}
		switch s.locationType {
		case "", "0", "1", "2", "3", "4":
		default:
			return fmt.Errorf("stop %q: bad location_type %q", id, s.locationType)
		}
		stops[id] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, s := range stops {
		if s.parent == "" {
			continue
		}
		if p, ok := stops[s.parent]; !ok || p.locationType != "1" {
			return nil, fmt.Errorf("%w: stops.txt: stop %q: parent_station %q is not a station (location_type 1)", ErrBadData, id, s.parent)
		}
	}

	f := &feed{stops: map[string]Stop{}, routes: map[string]Route{}, busStops: map[string][]string{}, edges: map[[2]int]int64{}}
	err = readCSV(dir, "routes.txt", []string{"route_id", "route_type"}, func(r row) error {
		id := r.get("route_id")
		if _, dup := f.routes[id]; dup {
			return fmt.Errorf("duplicate route_id %q", id)
		}
		rt := Route{ID: id, ShortName: r.get("route_short_name"), LongName: r.get("route_long_name")}
		switch r.get("route_type") {
		case routeTypeSubway:
			rt.Mode = Metro
		case routeTypeBus:
			rt.Mode = Bus
		default:
			return fmt.Errorf("route %q: route_type %q is not priced (1 subway/metro and 3 bus are)", id, r.get("route_type"))
		}
		if rt.ShortName == "" && rt.LongName == "" {
			return fmt.Errorf("route %q: needs route_short_name or route_long_name", id)
		}
		f.routes[id] = rt
		return nil
	})
	if err != nil {
		return nil, err
	}

	tripRoute := map[string]string{}
	err = readCSV(dir, "trips.txt", []string{"route_id", "trip_id"}, func(r row) error {
		id, route := r.get("trip_id"), r.get("route_id")
		if _, dup := tripRoute[id]; dup {
			return fmt.Errorf("duplicate trip_id %q", id)
		}
		if _, ok := f.routes[route]; !ok {
			return fmt.Errorf("trip %q: unknown route_id %q", id, route)
		}
		tripRoute[id] = route
		return nil
	})
	if err != nil {
		return nil, err
	}

	type stopTime struct {
		seq  int
		stop string
		dist string
		line int
	}
	trips := map[string][]stopTime{}
	err = readCSV(dir, "stop_times.txt", []string{"trip_id", "stop_id", "stop_sequence"}, func(r row) error {
		trip, stop := r.get("trip_id"), r.get("stop_id")
		if _, ok := tripRoute[trip]; !ok {
			return fmt.Errorf("unknown trip_id %q", trip)
		}
		if s, ok := stops[stop]; !ok || (s.locationType != "" && s.locationType != "0") {
			return fmt.Errorf("trip %q: stop_id %q is not a stop or platform", trip, stop)
		}
		seq, err := strconv.Atoi(r.get("stop_sequence"))
		if err != nil || seq < 0 {
			return fmt.Errorf("trip %q: bad stop_sequence %q", trip, r.get("stop_sequence"))
		}
		trips[trip] = append(trips[trip], stopTime{seq: seq, stop: stop, dist: r.get("shape_dist_traveled"), line: r.line})
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Rideable stops: the station of every metro platform served, every bus stop served.
	lines := map[string]map[string]bool{} // stop → routes
	modeOf := map[string]Mode{}
	served := map[string]bool{} // routes with at least one stop
	addServed := func(stop, route string, m Mode) error {
		if prev, ok := modeOf[stop]; ok && prev != m {
			return fmt.Errorf("%w: stop %q is served both as a %s station and a %s stop", ErrBadData, stop, prev, m)
		}
		modeOf[stop] = m
		if lines[stop] == nil {
			lines[stop] = map[string]bool{}
		}
		lines[stop][route] = true
		served[route] = true
		return nil
	}
	metroSegs := map[[2]string]int64{}
	tripIDs := make([]string, 0, len(trips))
	for id := range trips {
		tripIDs = append(tripIDs, id)
	}
	slices.Sort(tripIDs)
	for _, trip := range tripIDs {
		sts := trips[trip]
		slices.SortFunc(sts, func(a, b stopTime) int { return a.seq - b.seq })
		route := f.routes[tripRoute[trip]]
		var prevStation string
		var prevDist int64
		for i, st := range sts {
			if i > 0 && sts[i-1].seq == st.seq {
				return nil, fmt.Errorf("%w: stop_times.txt line %d: trip %q repeats stop_sequence %d", ErrBadData, st.line, trip, st.seq)
			}
			if route.Mode == Bus {
				if err := addServed(st.stop, route.ID, Bus); err != nil {
					return nil, err
				}
				continue
			}
			station := st.stop
			if p := stops[st.stop].parent; p != "" {
				station = p
			}
			d, err := metres(st.dist)
			if err != nil {
				return nil, fmt.Errorf("%w: stop_times.txt line %d: metro trip %q: shape_dist_traveled: %v", ErrBadData, st.line, trip, err)
			}
			if err := addServed(station, route.ID, Metro); err != nil {
				return nil, err
			}
			if i > 0 {
				if station == prevStation || d <= prevDist {
					return nil, fmt.Errorf("%w: stop_times.txt line %d: metro trip %q: %q must be a different station further along than %q (shape_dist_traveled %d after %d)", ErrBadData, st.line, trip, station, prevStation, d, prevDist)
				}
				key := [2]string{prevStation, station}
				if key[0] > key[1] {
					key[0], key[1] = key[1], key[0]
				}
				if old, ok := metroSegs[key]; ok && old != d-prevDist {
					return nil, fmt.Errorf("%w: stop_times.txt line %d: metro trip %q: segment %s–%s is %d m here but %d m in another trip", ErrBadData, st.line, trip, key[0], key[1], d-prevDist, old)
				}
				metroSegs[key] = d - prevDist
			}
			prevStation, prevDist = station, d
		}
	}

	for stop, m := range modeOf {
		s := Stop{ID: stop, Name: stops[stop].name, Mode: m}
		for r := range lines[stop] {
			s.Lines = append(s.Lines, r)
			if m == Bus {
				f.busStops[r] = append(f.busStops[r], stop)
			}
		}
		slices.Sort(s.Lines)
		f.stops[stop] = s
		if m == Metro {
			f.stations = append(f.stations, stop)
		}
	}
	for r := range f.busStops {
		slices.Sort(f.busStops[r])
	}
	slices.Sort(f.stations)
	index := make(map[string]int, len(f.stations))
	for i, s := range f.stations {
		index[s] = i
	}
	for k, d := range metroSegs {
		f.edges[[2]int{index[k[0]], index[k[1]]}] = d
	}
	for id, r := range f.routes {
		if !served[id] {
			return nil, fmt.Errorf("%w: route %q (%s) has no trips with stops", ErrBadData, id, r.Mode)
		}
	}
	return f, nil
}

// metres parses shape_dist_traveled (metres, a decimal) and rounds it to whole metres.
func metres(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing (metro trips need distances in metres)")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 1e9 || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a distance in metres", s)
	}
	return int64(math.Round(v)), nil
}

// row is one CSV record with its header.
type row struct {
	cols   map[string]int
	fields []string
	line   int
}

func (r row) get(col string) string {
	if i, ok := r.cols[col]; ok && i < len(r.fields) {
		return strings.TrimSpace(r.fields[i])
	}
	return ""
}

// readCSV calls fn for every record of a GTFS file, which must have the
// required columns, each non-empty in every record.
func readCSV(dir, name string, required []string, fn func(row) error) error {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadData, err)
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%w: %s: no header: %v", ErrBadData, name, err)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.TrimSpace(h)] = i
	}
	for _, c := range required {
		if _, ok := cols[c]; !ok {
			return fmt.Errorf("%w: %s: missing column %s", ErrBadData, name, c)
		}
	}
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadData, name, err)
		}
		line, _ := cr.FieldPos(0)
		r := row{cols: cols, fields: fields, line: line}
		for _, c := range required {
			if r.get(c) == "" {
				return fmt.Errorf("%w: %s line %d: empty %s", ErrBadData, name, line, c)
			}
		}
		if err := fn(r); err != nil {
			if errors.Is(err, ErrBadData) {
				return err
			}
			return fmt.Errorf("%w: %s line %d: %v", ErrBadData, name, line, err)
		}
	}
}
