package qrverify

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/dynamolite"
)

// qr-verify reads and writes items of shared/holders' table directly, with
// dynamolite rather than through shared/holders, which links the AWS SDK's
// DynamoDB client: its package initialisation alone would put qr-verify's
// cold start over budget (see shared/dynamolite). The items are holders'
// (infra/holders.md); what is here must stay exactly what
// shared/holders/store.go writes and reads, which store_test.go checks
// against holders.Store itself.

var (
	// ErrReplayed is a single-use code accepted before for the same purpose.
	ErrReplayed = errors.New("qrverify: code already used for this purpose")
	// ErrNoHolder is a code whose holder is not enrolled here.
	ErrNoHolder = errors.New("qrverify: no such holder")
)

// statusActive is holders.StatusActive: the holder's codes are honoured.
const statusActive = "active"

// Holder is what verification reads of a holder: its PROFILE item and the
// balance and post-paid limit of its ACCOUNT item.
type Holder struct {
	ID             string
	Name           string
	DocumentType   string
	DocumentNumber string
	DateOfBirth    string
	Nationality    string
	Status         string
	BalanceFen     int64
	// PostpaidLimitFen is how far below zero the balance may go for travel.
	PostpaidLimitFen int64
}

// AccessEntry is a release of the holder's data, for the holder's access
// log (holders.AccessEntry).
type AccessEntry struct {
	At           time.Time
	Organisation string
	Actor        string
	Purpose      string
	What         []string
	Outcome      string
}

// Use is one acceptance of a code for a purpose.
type Use struct {
	Purpose string
	Issuer  string
	CodeID  [8]byte
	// Until is when the mark may be forgotten: the code can no longer verify.
	Until time.Time
}

// Key is the use mark's key in CodeUsesTable: purpose, issuer and code id.
func (u Use) Key() string {
	return u.Purpose + "#" + u.Issuer + "#" + hex.EncodeToString(u.CodeID[:])
}

// Store is what verification needs of storage: one read of the holder and
// one write that accepts the code (the single-use mark and the access-log
// entry together).
type Store interface {
	// Holder reads the holder; ErrNoHolder when there is none.
	Holder(ctx context.Context, holderID string) (Holder, error)
	// Accept records the use (when use is not nil, conditionally: ErrReplayed
	// if it exists) and the access-log entry (when entry is not nil), in one
	// write.
	Accept(ctx context.Context, use *Use, holderID string, entry *AccessEntry) error
}

// idEncoding is holders' id encoding: unpadded base32, lower case in ids.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// idFromRef is the holder id a code's reference names (holders.IDFromRef):
// "hdr_" and the 16 bytes in lower-case base32.
func idFromRef(ref [16]byte) string {
	return "hdr_" + strings.ToLower(idEncoding.EncodeToString(ref[:]))
}

// newEntryID is a fresh access-log entry id, as holders makes them.
func newEntryID() string { return newID("acc") }

// newID is prefix_ and 16 random bytes in lower-case base32, holders' and
// certificates' id shape.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// The holders table's keys (shared/holders/store.go).
const (
	skProfile = "PROFILE"
	skAccount = "ACCOUNT"
	skAccess  = "ACCESS#"
)

func holderPK(id string) string { return "HOLDER#" + id }

func holderKey(id, sk string) dynamolite.Item {
	return dynamolite.Item{"pk": dynamolite.String(holderPK(id)), "sk": dynamolite.String(sk)}
}

// DynamoStore keeps single-use marks in CodeUsesTable (pk, TTL expires_at)
// and reads holders from, and writes access-log entries to, the holders
// table.
type DynamoStore struct {
	db      *dynamolite.Client
	uses    string
	holders string
	// certificates is CertificatesTable, where window consents go (empty:
	// this store grants none).
	certificates string
}

// NewDynamoStore returns the store over the two tables.
func NewDynamoStore(db *dynamolite.Client, usesTable, holdersTable string) *DynamoStore {
	return &DynamoStore{db: db, uses: usesTable, holders: holdersTable}
}

// Holder reads the holder's PROFILE and ACCOUNT items in one consistent
// call.
func (s *DynamoStore) Holder(ctx context.Context, id string) (Holder, error) {
	out, err := s.db.BatchGetItem(ctx, dynamolite.BatchGetItemInput{RequestItems: map[string]dynamolite.KeysAndAttributes{
		s.holders: {Keys: []dynamolite.Item{holderKey(id, skProfile), holderKey(id, skAccount)}, ConsistentRead: true},
	}})
	if err != nil {
		return Holder{}, fmt.Errorf("read holder: %w", err)
	}
	if len(out.UnprocessedKeys) > 0 {
		return Holder{}, errors.New("read holder: throttled")
	}
	var h Holder
	for _, it := range out.Responses[s.holders] {
		sk, err := it.GetString("sk")
		if err == nil {
			switch sk {
			case skProfile:
				err = readProfile(it, &h)
			case skAccount:
				h.BalanceFen, err = it.GetInt("balance_fen")
				if err == nil {
					h.PostpaidLimitFen, err = it.GetInt("postpaid_limit_fen")
				}
			}
		}
		if err != nil {
			return Holder{}, fmt.Errorf("read holder: %w", err)
		}
	}
	if h.ID == "" {
		return Holder{}, ErrNoHolder
	}
	return h, nil
}

// readProfile reads the PROFILE item's attributes (the dynamodbav names of
// holders.Holder).
func readProfile(it dynamolite.Item, h *Holder) error {
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"holder_id", &h.ID}, {"name", &h.Name}, {"document_type", &h.DocumentType}, {"document_number", &h.DocumentNumber},
		{"date_of_birth", &h.DateOfBirth}, {"nationality", &h.Nationality}, {"status", &h.Status},
	} {
		v, err := it.GetString(f.name)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	return nil
}

// accessItem is the access-log item of e, exactly as holders.Store writes
// an AccessEntry with the SDK's attributevalue package: times as RFC 3339
// strings, What as a list of strings.
func accessItem(holderID, entryID string, e AccessEntry) dynamolite.Item {
	// The sort key's time is fixed width and UTC, as holders.TimeKey.
	it := holderKey(holderID, skAccess+e.At.UTC().Format("2006-01-02T15:04:05.000000000Z")+"#"+entryID)
	it["entry_id"] = dynamolite.String(entryID)
	it["at"] = dynamolite.String(e.At.Format(time.RFC3339Nano))
	it["organisation"] = dynamolite.String(e.Organisation)
	it["actor"] = dynamolite.String(e.Actor)
	it["purpose"] = dynamolite.String(e.Purpose)
	it["what"] = dynamolite.StringList(e.What)
	it["outcome"] = dynamolite.String(e.Outcome)
	return it
}

// Consent is a holder's consent, given by showing the code at a service
// window, for an organisation to look up the holder's certificates of some
// categories for a purpose until ValidUntil (shared/certificates reads it:
// certificates.Consent is the same item).
type Consent struct {
	ID           string
	HolderID     string
	Organisation string
	Actor        string
	Purpose      string
	Categories   []string
	CreatedAt    time.Time
	ValidUntil   time.Time
}

// consentRetention is how long a consent's item outlives its end before
// DynamoDB's TTL removes it: the holder's record of it.
const consentRetention = 90 * 24 * time.Hour

// WithCertificates answers a copy of s that writes window consents into
// the certificates table.
func (s *DynamoStore) WithCertificates(table string) *DynamoStore {
	c := *s
	c.certificates = table
	return &c
}

// consentItem is c as certificates.Store reads it (attributevalue's
// encoding of certificates.Consent: times as RFC 3339 strings, categories
// as a list of strings), with its TTL.
func consentItem(c Consent) dynamolite.Item {
	return consentItemAt("CONSENT#"+c.ID, "CONSENT", c)
}

// holderConsentItem is the holder's copy of c, which GET /v1/consents
// lists newest first (certificates' holder consent item).
func holderConsentItem(c Consent) dynamolite.Item {
	// The sort key's time is fixed width and UTC, as holders.TimeKey.
	return consentItemAt(holderPK(c.HolderID), "CONSENT#"+c.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000Z")+"#"+c.ID, c)
}

func consentItemAt(pk, sk string, c Consent) dynamolite.Item {
	return dynamolite.Item{
		"pk": dynamolite.String(pk), "sk": dynamolite.String(sk),
		"consent_id": dynamolite.String(c.ID), "holder_id": dynamolite.String(c.HolderID),
		"organisation": dynamolite.String(c.Organisation), "purpose": dynamolite.String(c.Purpose),
		"categories": dynamolite.StringList(c.Categories), "source": dynamolite.String("window"),
		"created_at":  dynamolite.String(c.CreatedAt.UTC().Format(time.RFC3339Nano)),
		"valid_until": dynamolite.String(c.ValidUntil.UTC().Format(time.RFC3339Nano)),
		"expires_at":  dynamolite.Int(c.ValidUntil.Add(consentRetention).Unix()),
	}
}

// Accept writes the use mark and the access entry in one call: a PutItem
// for one of them, a transaction for both.
func (s *DynamoStore) Accept(ctx context.Context, use *Use, holderID string, entry *AccessEntry) error {
	return s.AcceptWithConsent(ctx, use, holderID, entry, nil)
}

// AcceptWithConsent is Accept that also writes consent (when not nil), the
// holder's copy of it and its consent_granted entry in the holder's access
// log, all in one
// transaction: the scan that shows the code is the act of consent.
func (s *DynamoStore) AcceptWithConsent(ctx context.Context, use *Use, holderID string, entry *AccessEntry, consent *Consent) error {
	if consent != nil && s.certificates == "" {
		return errors.New("accept code: this store grants no consents")
	}
	var puts []dynamolite.PutItemInput
	if use != nil {
		puts = append(puts, dynamolite.PutItemInput{
			TableName: s.uses,
			Item: dynamolite.Item{
				"pk":         dynamolite.String(use.Key()),
				"expires_at": dynamolite.Int(use.Until.Unix()),
			},
			ConditionExpression: "attribute_not_exists(pk)",
		})
	}
	if entry != nil {
		puts = append(puts, dynamolite.PutItemInput{
			TableName: s.holders, Item: accessItem(holderID, newEntryID(), *entry), ConditionExpression: "attribute_not_exists(pk)",
		})
	}
	if consent != nil {
		granted := AccessEntry{At: consent.CreatedAt, Organisation: consent.Organisation, Actor: consent.Actor,
			Purpose: consent.Purpose, What: consent.Categories, Outcome: "consent_granted"}
		puts = append(puts,
			dynamolite.PutItemInput{TableName: s.certificates, Item: consentItem(*consent), ConditionExpression: "attribute_not_exists(pk)"},
			dynamolite.PutItemInput{TableName: s.certificates, Item: holderConsentItem(*consent), ConditionExpression: "attribute_not_exists(pk)"},
			dynamolite.PutItemInput{TableName: s.holders, Item: accessItem(holderID, newEntryID(), granted), ConditionExpression: "attribute_not_exists(pk)"},
		)
	}
	var err error
	switch len(puts) {
	case 0:
		return nil
	case 1:
		err = s.db.PutItem(ctx, puts[0])
		if use != nil && errors.Is(err, dynamolite.ErrConditionalCheckFailed) {
			return ErrReplayed
		}
	default:
		items := make([]dynamolite.TransactWriteItem, len(puts))
		for i := range puts {
			items[i].Put = &puts[i]
		}
		err = s.db.TransactWriteItems(ctx, dynamolite.TransactWriteItemsInput{TransactItems: items})
		var e *dynamolite.Error
		if use != nil && errors.As(err, &e) && len(e.CancellationReasons) > 0 && e.CancellationReasons[0].Code == "ConditionalCheckFailed" {
			return ErrReplayed // the use mark is the first put
		}
	}
	if err != nil {
		return fmt.Errorf("accept code: %w", err)
	}
	return nil
}
