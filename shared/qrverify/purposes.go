package qrverify

import (
	"slices"
	"time"
)

// Purpose is why a scanner reads a code: it fixes the scope the scanner
// needs, whether a code may be accepted only once, and which claims it sees.
type Purpose struct {
	Name  string
	Scope string
	// SingleUse purposes accept a code once; a second scan is "replayed".
	SingleUse bool
	// Claims are what this purpose may see of the holder.
	Claims []string
	// KeepMark is how long after the code's expiry its single-use mark is
	// kept (at least an hour): as long as a clone could still be presented.
	KeepMark time.Duration
}

// OfflineUploadWindow is how late an offline gate may upload a scan
// (transit.MaxAge), and an hour to spare: a transit code's use mark is kept
// that long, so a clone scanned offline meets the original's mark however
// the original was accepted (a transit test holds the two together).
const OfflineUploadWindow = 73 * time.Hour

// Claims a scanner may be given. Everything but may_travel is personal data
// and its release is written to the holder's access log.
const (
	ClaimName           = "name"
	ClaimDocumentType   = "document_type"
	ClaimDocumentNumber = "document_number"
	ClaimDateOfBirth    = "date_of_birth"
	ClaimNationality    = "nationality"
	ClaimAgeGroup       = "age_group"
	ClaimMayTravel      = "may_travel"
)

// purposes is the release policy: who sees what (infra/qr.md).
var purposes = map[string]Purpose{
	"transit":    {Name: "transit", Scope: "scan:transit", SingleUse: true, Claims: []string{ClaimMayTravel}, KeepMark: OfflineUploadWindow},
	"hospital":   {Name: "hospital", Scope: "scan:hospital", SingleUse: true, Claims: []string{ClaimName, ClaimDocumentType, ClaimDocumentNumber, ClaimDateOfBirth}},
	"pharmacy":   {Name: "pharmacy", Scope: "scan:pharmacy", SingleUse: true, Claims: []string{ClaimName, ClaimDateOfBirth}},
	"hotel":      {Name: "hotel", Scope: "scan:hotel", SingleUse: true, Claims: []string{ClaimName, ClaimDocumentType, ClaimDocumentNumber, ClaimNationality, ClaimDateOfBirth}},
	"venue":      {Name: "venue", Scope: "scan:venue", SingleUse: true, Claims: []string{ClaimAgeGroup}},
	"government": {Name: "government", Scope: "scan:government", SingleUse: false, Claims: []string{ClaimName, ClaimDocumentType, ClaimDocumentNumber, ClaimDateOfBirth, ClaimNationality}},
}

// PurposeNamed is the release policy of a purpose; false for an unknown one.
func PurposeNamed(name string) (Purpose, bool) {
	p, ok := purposes[name]
	return p, ok
}

// personal reports whether a purpose's release includes personal data.
func (p Purpose) personal() bool {
	return slices.ContainsFunc(p.Claims, func(c string) bool { return c != ClaimMayTravel })
}
