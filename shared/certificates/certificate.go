// Package certificates is cert-lookup: electronic certificates of the
// categories in infra/certificates/categories.json, issued and changed by
// their issuing agencies, listed and downloaded (signed) by their holders,
// and looked up by an organisation only with the holder's consent, every
// lookup landing in the holder's access log. See infra/certificates.md.
package certificates

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/ddb"
)

// Sentinel errors of the capability; api.go maps them to answers.
var (
	ErrCategoryNotFound    = errors.New("certificates: no such category")
	ErrNotCategoryIssuer   = errors.New("certificates: caller does not issue this category")
	ErrCertificateNotFound = errors.New("certificates: no such certificate")
	ErrHolderNotFound      = errors.New("certificates: no such holder")
	ErrHolderNotActive     = errors.New("certificates: holder not active")
	ErrCertificateExists   = errors.New("certificates: holder already has one")
	ErrInvalidTransition   = errors.New("certificates: change not allowed in this status")
	ErrChanged             = errors.New("certificates: changed concurrently")
	ErrConsentNotFound     = errors.New("certificates: no such consent of the holder's")
	ErrOrganisationUnknown = errors.New("certificates: no such organisation")
	errCorruptCursor       = ddb.ErrCorruptCursor
)

// Statuses of a certificate. Active, suspended and revoked are stored;
// expired is computed at read time.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
)

// Reasons an issuer may give for a suspension or revocation: stable codes,
// never free text (which would carry personal data into events).
var Reasons = []string{"issued_in_error", "superseded", "holder_request", "court_order", "holder_deceased", "fraud", "administrative"}

// Certificate is one certificate as stored: the record, its current signed
// document and its version (every change adds one).
type Certificate struct {
	ID           string          `dynamodbav:"certificate_id"`
	Category     string          `dynamodbav:"category"`
	HolderID     string          `dynamodbav:"holder_id"`
	IssuerOrg    string          `dynamodbav:"issuer_org"`
	Version      int64           `dynamodbav:"version"`
	Status       string          `dynamodbav:"status"`
	StatusReason string          `dynamodbav:"status_reason,omitempty"`
	ValidFrom    string          `dynamodbav:"valid_from"`
	ValidUntil   string          `dynamodbav:"valid_until,omitempty"`
	Fields       json.RawMessage `dynamodbav:"-"`
	FieldsJSON   string          `dynamodbav:"fields,omitempty"`
	IssuedAt     time.Time       `dynamodbav:"issued_at"`
	UpdatedAt    time.Time       `dynamodbav:"updated_at"`
	RevokedAt    *time.Time      `dynamodbav:"revoked_at,omitempty"`
	Document     string          `dynamodbav:"document,omitempty"`
}

// shanghai is the city's time zone: a certificate valid until a date is
// valid to the end of that day there.
var shanghai = time.FixedZone("CST", 8*60*60)

// StatusAt is the status every read path answers at now: revoked and
// suspended as stored, else expired once valid_until is before today in
// Shanghai, else active.
func (c Certificate) StatusAt(now time.Time) string {
	if c.Status != StatusActive {
		return c.Status
	}
	if c.ValidUntil != "" && c.ValidUntil < now.In(shanghai).Format(time.DateOnly) {
		return StatusExpired
	}
	return StatusActive
}

// today is the date in Shanghai at now.
func today(now time.Time) string { return now.In(shanghai).Format(time.DateOnly) }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID answers prefix_ and 16 random bytes in lower-case unpadded base32,
// the shape of holders' ids.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
