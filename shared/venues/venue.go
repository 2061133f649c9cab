// Package venues is venue entry by the code: a library, park, campus or
// theatre gate scans a code and learns only whether to admit, within the
// venue's daily capacity, counted exactly under concurrent scans. See
// infra/lodging.md (venue entry).
package venues

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	// Lambda's provided.al2023 image has no zone database: the venues'
	// timezones come with the binary.
	_ "time/tzdata"
)

// Kinds of venue.
const (
	KindLibrary = "library"
	KindPark    = "park"
	KindCampus  = "campus"
	KindTheatre = "theatre"
)

// Venue is one place that admits by the code (infra/venues/venues.json).
type Venue struct {
	ID            string `json:"venue_id"`
	Org           string `json:"org"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	DailyCapacity int    `json:"daily_capacity"`
	Timezone      string `json:"timezone"`
	loc           *time.Location
}

// Day is the venue's local date of t, YYYY-MM-DD.
func (v Venue) Day(t time.Time) string { return t.In(v.loc).Format(time.DateOnly) }

// LoadVenues reads and checks a venues file.
func LoadVenues(path string) (map[string]Venue, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("venues: %w", err)
	}
	return ParseVenues(raw)
}

// ParseVenues checks a venues document: known kinds, a positive capacity,
// an IANA timezone, unique ids.
func ParseVenues(raw []byte) (map[string]Venue, error) {
	var doc struct {
		Comment string  `json:"_comment"`
		Venues  []Venue `json:"venues"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("venues: %w", err)
	}
	out := map[string]Venue{}
	var errs []error
	for i, v := range doc.Venues {
		loc, err := time.LoadLocation(v.Timezone)
		switch {
		case v.ID == "" || len(v.ID) > 64 || v.Org == "" || v.Name == "":
			errs = append(errs, fmt.Errorf("venue %d: venue_id (at most 64 characters), org and name are required", i))
		case v.Kind != KindLibrary && v.Kind != KindPark && v.Kind != KindCampus && v.Kind != KindTheatre:
			errs = append(errs, fmt.Errorf("venue %s: kind %q is not library, park, campus or theatre", v.ID, v.Kind))
		case v.DailyCapacity < 1:
			errs = append(errs, fmt.Errorf("venue %s: daily_capacity must be positive", v.ID))
		case err != nil || v.Timezone == "":
			errs = append(errs, fmt.Errorf("venue %s: timezone %q is not an IANA zone", v.ID, v.Timezone))
		case out[v.ID].ID != "":
			errs = append(errs, fmt.Errorf("venue %s: listed twice", v.ID))
		}
		v.loc = loc
		out[v.ID] = v
	}
	if len(doc.Venues) == 0 {
		errs = append(errs, errors.New("venues: none listed"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("venues: %w", err)
	}
	return out, nil
}
