package lodging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	// Lambda's provided.al2023 image has no zone database: the policy's
	// timezone comes with the binary.
	_ "time/tzdata"
)

// Policy is infra/lodging/policy.json: who receives the reports, their
// deadlines, and how long stays are kept.
type Policy struct {
	// ReportTo is the organisation whose receipt proves a report arrived.
	ReportTo string
	// Domestic is the nationality of guests who are not foreign.
	Domestic string
	// ForeignRegistration, DomesticRegistration and Departure are the
	// report deadlines, from the check-in or the check-out.
	ForeignRegistration, DomesticRegistration, Departure time.Duration
	// Retention is how long a stay is kept after its check-out.
	Retention time.Duration
	// MaxGuests bounds one stay (one transaction holds them all).
	MaxGuests int
	// MaxNights bounds the expected check-out date.
	MaxNights int
	// LateWindow is how far in the past a check-in may be dated.
	LateWindow time.Duration
	// Location is where check-out dates and ages are reckoned.
	Location *time.Location
}

type policyFile struct {
	ReportTo            string `json:"report_to"`
	DomesticNationality string `json:"domestic_nationality"`
	Deadlines           struct {
		Foreign   string `json:"foreign_registration"`
		Domestic  string `json:"domestic_registration"`
		Departure string `json:"departure"`
	} `json:"deadlines"`
	RetentionDays int    `json:"retention_days"`
	MaxGuests     int    `json:"max_guests_per_stay"`
	MaxNights     int    `json:"max_nights"`
	LateWindow    string `json:"late_registration_window"`
	Timezone      string `json:"timezone"`
	Comment       string `json:"_comment"`
}

// maxTransactGuests is the most guests one transaction can register: each
// takes at most 9 items (mark, access entry, registration, two report
// trackers, three outbox items, a guardianship check) of DynamoDB's 100.
const maxTransactGuests = 10

// LoadPolicy reads and checks a policy file.
func LoadPolicy(path string) (Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("lodging policy: %w", err)
	}
	return ParsePolicy(raw)
}

// ParsePolicy checks a policy document.
func ParsePolicy(raw []byte) (Policy, error) {
	var f policyFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Policy{}, fmt.Errorf("lodging policy: %w", err)
	}
	p := Policy{ReportTo: f.ReportTo, Domestic: f.DomesticNationality, MaxGuests: f.MaxGuests, MaxNights: f.MaxNights,
		Retention: time.Duration(f.RetentionDays) * 24 * time.Hour}
	var errs []error
	for _, d := range []struct {
		name, text string
		to         *time.Duration
	}{{"foreign_registration", f.Deadlines.Foreign, &p.ForeignRegistration}, {"domestic_registration", f.Deadlines.Domestic, &p.DomesticRegistration},
		{"departure", f.Deadlines.Departure, &p.Departure}, {"late_registration_window", f.LateWindow, &p.LateWindow}} {
		v, err := time.ParseDuration(d.text)
		if err != nil || v <= 0 || v > 30*24*time.Hour {
			errs = append(errs, fmt.Errorf("%s must be a duration from 1s to 720h", d.name))
		}
		*d.to = v
	}
	loc, err := time.LoadLocation(f.Timezone)
	if err != nil || f.Timezone == "" {
		errs = append(errs, fmt.Errorf("timezone %q is not an IANA zone", f.Timezone))
	}
	p.Location = loc
	switch {
	case p.ReportTo == "":
		errs = append(errs, errors.New("report_to must name the police organisation"))
	case len(p.Domestic) != 3:
		errs = append(errs, errors.New("domestic_nationality must be ISO 3166-1 alpha-3"))
	case f.RetentionDays < 1:
		errs = append(errs, errors.New("retention_days must be at least 1"))
	case p.MaxGuests < 1 || p.MaxGuests > maxTransactGuests:
		errs = append(errs, fmt.Errorf("max_guests_per_stay must be 1 to %d", maxTransactGuests))
	case p.MaxNights < 1:
		errs = append(errs, errors.New("max_nights must be at least 1"))
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, fmt.Errorf("lodging policy: %w", err)
	}
	return p, nil
}

// RegistrationDeadline is how long a hotel has to report a guest of
// nationality.
func (p Policy) RegistrationDeadline(nationality string) time.Duration {
	if nationality == p.Domestic {
		return p.DomesticRegistration
	}
	return p.ForeignRegistration
}
