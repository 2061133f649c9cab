package certificates

import "github.com/citycode/citycode/shared/outbox"

// Events of this capability (infra/events/city.certificate.*.json). They
// never carry fields: a subscriber that needs them looks up with consent.
const (
	eventSource    = "/citycode/certificates"
	typeIssued     = "city.certificate.issued.v1"
	typeRenewed    = "city.certificate.renewed.v1"
	typeSuspended  = "city.certificate.suspended.v1"
	typeReinstated = "city.certificate.reinstated.v1"
	typeRevoked    = "city.certificate.revoked.v1"
)

type certEventData struct {
	CertificateID string  `json:"certificate_id"`
	HolderID      string  `json:"holder_id"`
	Category      string  `json:"category"`
	IssuerOrg     string  `json:"issuer_org"`
	Version       int64   `json:"version"`
	ValidFrom     string  `json:"valid_from,omitempty"`
	ValidUntil    *string `json:"valid_until,omitempty"`
	Reason        string  `json:"reason,omitempty"`
}

// certEvent is the event of type typ about c's new state: the validity
// window for issued and renewed, the reason for suspended and revoked.
func certEvent(typ string, c Certificate) outbox.Event {
	d := certEventData{CertificateID: c.ID, HolderID: c.HolderID, Category: c.Category, IssuerOrg: c.IssuerOrg, Version: c.Version}
	switch typ {
	case typeIssued, typeRenewed:
		d.ValidFrom = c.ValidFrom
		if c.ValidUntil != "" {
			d.ValidUntil = &c.ValidUntil
		}
	case typeSuspended, typeRevoked:
		d.Reason = c.StatusReason
	}
	return outbox.Event{Type: typ, Source: eventSource, Subject: c.ID, Time: c.UpdatedAt, Data: d}
}
