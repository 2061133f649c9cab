package lodging

import (
	"time"

	"github.com/citycode/citycode/shared/outbox"
)

// Events of this capability (infra/events): the police reports. Subject:
// the registration id, so that a report's receipt is found by key.
const (
	eventSource    = "/citycode/lodging"
	TypeRegistered = "city.lodging.guest.registered.v1"
	TypeDeparted   = "city.lodging.guest.departed.v1"
)

type registeredData struct {
	RegistrationID         string    `json:"registration_id"`
	StayID                 string    `json:"stay_id"`
	Hotel                  string    `json:"hotel"`
	Room                   string    `json:"room"`
	CheckedInAt            time.Time `json:"checked_in_at"`
	CheckOutDate           string    `json:"check_out_date"`
	Issuer                 string    `json:"issuer"`
	HolderID               string    `json:"holder_id,omitempty"`
	Name                   string    `json:"name"`
	DocumentType           string    `json:"document_type"`
	DocumentNumber         string    `json:"document_number"`
	Nationality            string    `json:"nationality"`
	DateOfBirth            string    `json:"date_of_birth"`
	Minor                  bool      `json:"minor"`
	GuardianRegistrationID string    `json:"guardian_registration_id,omitempty"`
	ReportDueAt            time.Time `json:"report_due_at"`
}

type departedData struct {
	RegistrationID string    `json:"registration_id"`
	StayID         string    `json:"stay_id"`
	Hotel          string    `json:"hotel"`
	DepartedAt     time.Time `json:"departed_at"`
	ReportDueAt    time.Time `json:"report_due_at"`
}

// registered is r's report to the police: the identity the law requires.
func registered(st Stay, r Registration) outbox.Event {
	return outbox.Event{Type: TypeRegistered, Source: eventSource, Subject: r.ID, Time: r.RegisteredAt, Data: registeredData{
		RegistrationID: r.ID, StayID: st.ID, Hotel: st.Hotel, Room: st.Room, CheckedInAt: r.RegisteredAt, CheckOutDate: st.CheckOutDate,
		Issuer: r.Issuer, HolderID: r.HolderID, Name: r.Name, DocumentType: r.DocumentType, DocumentNumber: r.DocumentNumber,
		Nationality: r.Nationality, DateOfBirth: r.DateOfBirth, Minor: r.Minor, GuardianRegistrationID: r.GuardianRegistrationID,
		ReportDueAt: r.RegisteredDue,
	}}
}

// departed is r's departure report.
func departed(st Stay, r Registration) outbox.Event {
	return outbox.Event{Type: TypeDeparted, Source: eventSource, Subject: r.ID, Time: *r.DepartedAt, Data: departedData{
		RegistrationID: r.ID, StayID: st.ID, Hotel: st.Hotel, DepartedAt: *r.DepartedAt, ReportDueAt: *r.DepartedDue,
	}}
}

// reportType is the event type of a report kind.
func reportType(kind string) string {
	if kind == KindDeparted {
		return TypeDeparted
	}
	return TypeRegistered
}
