// Package lodging is hotel check-in by the code: stays opened with every
// guest's scanned code and registration, companions added, check-out, and
// the police reports each registration and departure makes, with their
// deadlines tracked against delivery receipts. See infra/lodging.md.
package lodging

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/scan"
)

// Sentinel errors of the capability; api.go maps them to answers.
var (
	ErrStayNotFound           = errors.New("lodging: no such stay")
	ErrStayClosed             = errors.New("lodging: stay closed")
	ErrGuestAlreadyRegistered = errors.New("lodging: guest already registered in the stay")
	ErrMinorUnaccompanied     = errors.New("lodging: minor without guardian")
	ErrTooManyGuests          = errors.New("lodging: too many guests")
	ErrStayBusy               = errors.New("lodging: stay changed concurrently")
	errCorruptCursor          = ddb.ErrCorruptCursor // a cursor List or Overdue did not give out
)

// Stay statuses and report kinds.
const (
	StatusOpen       = "open"
	StatusCheckedOut = "checked_out"
	KindRegistered   = "registered"
	KindDeparted     = "departed"
)

// Stay is one room's occupancy at one hotel.
type Stay struct {
	ID           string     `dynamodbav:"stay_id"`
	Hotel        string     `dynamodbav:"hotel"`
	Room         string     `dynamodbav:"room"`
	Status       string     `dynamodbav:"status"`
	CheckedInAt  time.Time  `dynamodbav:"checked_in_at"`
	CheckOutDate string     `dynamodbav:"check_out_date"`
	CheckedOutAt *time.Time `dynamodbav:"checked_out_at,omitempty"`
	Guests       int        `dynamodbav:"guests"`
	Adults       int        `dynamodbav:"adults"`
	ExpiresAt    int64      `dynamodbav:"expires_at"`
	// Registrations are the guests, when the stay was read whole.
	Registrations []Registration `dynamodbav:"-"`
}

// Registration is one guest of a stay: the identity the hotel reports.
type Registration struct {
	ID             string `dynamodbav:"registration_id"`
	StayID         string `dynamodbav:"stay_id"`
	Issuer         string `dynamodbav:"issuer"`
	HolderID       string `dynamodbav:"holder_id,omitempty"`
	Name           string `dynamodbav:"name"`
	DocumentType   string `dynamodbav:"document_type"`
	DocumentNumber string `dynamodbav:"document_number"`
	Nationality    string `dynamodbav:"nationality"`
	DateOfBirth    string `dynamodbav:"date_of_birth"`
	Minor          bool   `dynamodbav:"minor"`
	// GuardianRegistrationID is a home minor's guardian in the same stay.
	GuardianRegistrationID string     `dynamodbav:"guardian_registration_id,omitempty"`
	RegisteredAt           time.Time  `dynamodbav:"registered_at"`
	RegisteredDue          time.Time  `dynamodbav:"registered_due"`
	DepartedAt             *time.Time `dynamodbav:"departed_at,omitempty"`
	DepartedDue            *time.Time `dynamodbav:"departed_due,omitempty"`
	// RegisteredDelivery and DepartedDelivery are the reports' deliveries
	// as lodging recorded them from the police's receipts, which expire
	// long before the registration does (Store.recordDelivery).
	RegisteredDelivery *Delivery `dynamodbav:"registered_delivery,omitempty"`
	DepartedDelivery   *Delivery `dynamodbav:"departed_delivery,omitempty"`
	ExpiresAt          int64     `dynamodbav:"expires_at"`
}

// Delivery is a report's delivery, recorded once on its registration.
type Delivery struct {
	DeliveredAt time.Time `dynamodbav:"delivered_at"`
	OnTime      bool      `dynamodbav:"on_time"`
}

// delivery answers r's recorded delivery of the report of kind, if any.
func (r Registration) delivery(kind string) *Delivery {
	if kind == KindDeparted {
		return r.DepartedDelivery
	}
	return r.RegisteredDelivery
}

// Home reports whether the guest is this city's holder.
func (r Registration) Home() bool { return r.HolderID != "" }

// Arrival is a guest to register: the accepted scan of their code and
// their registration's identity fields (Issuer, HolderID, Name, Document*,
// Nationality, DateOfBirth, Minor).
type Arrival struct {
	Scan         scan.Scan
	Registration Registration
	// GuardianHolderID is a home minor's guardian on record, who must be
	// in the stay.
	GuardianHolderID string
}

// Report is a police report whose receipt is awaited: its tracker item.
type Report struct {
	Hotel          string    `dynamodbav:"hotel"`
	StayID         string    `dynamodbav:"stay_id"`
	Room           string    `dynamodbav:"room"`
	RegistrationID string    `dynamodbav:"registration_id"`
	Kind           string    `dynamodbav:"kind"`
	Due            time.Time `dynamodbav:"due"`
	Name           string    `dynamodbav:"name"`
	Nationality    string    `dynamodbav:"nationality"`
	// GuestSK is the sk of the registration item, where the delivery is
	// recorded; empty in trackers written before it was kept.
	GuestSK   string `dynamodbav:"guest_sk,omitempty"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

// ReportState is a report as the hotel sees it.
type ReportState struct {
	Kind        string
	Status      string // pending, delivered, overdue
	Due         time.Time
	DeliveredAt *time.Time
	OnTime      *bool // with DeliveredAt
}

// Report statuses.
const (
	ReportPending   = "pending"
	ReportDelivered = "delivered"
	ReportOverdue   = "overdue"
)

// Page is one page of a listing and the cursor of the next.
type Page[T any] = ddb.Page[T]

// newID returns prefix_ and 26 random base32 characters.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// validID reports whether id has prefix_ and 26 base32 characters.
func validID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z') && !(c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// minorOn reports whether someone born on dob (YYYY-MM-DD) is under 18 on
// day (a date in the policy's zone).
func minorOn(dob string, day time.Time) bool {
	d, err := time.Parse(time.DateOnly, dob)
	if err != nil {
		return false
	}
	y, m, dd := day.Date()
	return d.AddDate(18, 0, 0).After(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC))
}
