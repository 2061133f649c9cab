package certificates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox"
)

// Store keeps certificates in CertificatesTable (infra/certificates.md):
// the certificate item, its holder's summary item and, for one-per-holder
// categories, a lock; every change writes them and its event in one
// transaction, conditional on the stored version.
type Store struct {
	db      *dynamodb.Client
	table   string
	holders string
	uses    string
	outbox  *outbox.Outbox
	keys    *DocumentKeys
	archive keyArchiver // the ring's keys archived (keyarchive.go)
	now     func() time.Time
}

// NewStore returns a Store on table; holdersTable is read (holder status)
// and written (access log); usesTable (CodeUsesTable) keeps the marks of
// checked references; documents are signed with keys.
func NewStore(db *dynamodb.Client, table, holdersTable, usesTable string, ob *outbox.Outbox, keys *DocumentKeys) *Store {
	return &Store{db: db, table: table, holders: holdersTable, uses: usesTable, outbox: ob, keys: keys, now: func() time.Time { return time.Now().UTC() }}
}

const (
	skCert    = "CERT"
	skConsent = "CONSENT"
)

func certPK(id string) string       { return "CERT#" + id }
func holderPK(id string) string     { return "HOLDER#" + id }
func consentPK(id string) string    { return "CONSENT#" + id }
func lockSK(category string) string { return "ONE#" + category }

// holderSK is the holder's summary item's sort key: by category, then
// issue time.
func holderSK(c Certificate) string {
	return "CERT#" + c.Category + "#" + holders.TimeKey(c.IssuedAt) + "#" + c.ID
}

// certItems are the certificate item and its holder's summary (no fields,
// no document).
func (s *Store) certItems(c Certificate) (cert, summary map[string]types.AttributeValue, err error) {
	c.FieldsJSON = string(c.Fields)
	if cert, err = ddb.Item(certPK(c.ID), skCert, c); err != nil {
		return nil, nil, err
	}
	cert["gsi1pk"], cert["gsi1sk"] = ddb.S(issuerPK(c.IssuerOrg)), ddb.S(issuerSK(c))
	c.FieldsJSON, c.Document = "", ""
	if summary, err = ddb.Item(holderPK(c.HolderID), holderSK(c), c); err != nil {
		return nil, nil, err
	}
	return cert, summary, nil
}

func unmarshalCert(it map[string]types.AttributeValue) (Certificate, error) {
	var c Certificate
	if err := attributevalue.UnmarshalMap(it, &c); err != nil {
		return Certificate{}, fmt.Errorf("unmarshal certificate: %w", err)
	}
	if c.FieldsJSON != "" {
		c.Fields = json.RawMessage(c.FieldsJSON)
	}
	return c, nil
}

// sign stores c's current document in c, once the ring's keys are
// archived (keyarchive.go).
func (s *Store) sign(ctx context.Context, c *Certificate) error {
	if err := s.keysArchived(ctx); err != nil {
		return err
	}
	content := DocumentContent{CertificateID: c.ID, Version: c.Version, Category: c.Category, IssuerOrg: c.IssuerOrg,
		Status: c.Status, StatusReason: c.StatusReason, ValidFrom: c.ValidFrom, IssuedAt: c.IssuedAt, Fields: c.Fields}
	if c.ValidUntil != "" {
		content.ValidUntil = &c.ValidUntil
	}
	doc, err := s.keys.Sign(DocumentPayload{ID: c.ID + "#v" + strconv.FormatInt(c.Version, 10), Certificate: content}, c.UpdatedAt)
	if err != nil {
		return err
	}
	c.Document = doc
	return nil
}

// Issue stores the new certificate c (id, category, holder, issuer, dates
// and fields set): conditional on the holder being enrolled and active, on
// the id being new and, for a one-per-holder category, on the holder having
// no other non-revoked certificate of it. A repeated id (a retried request,
// whose id derives from its Idempotency-Key) answers the stored one.
func (s *Store) Issue(ctx context.Context, c Certificate, onePerHolder bool) (Certificate, error) {
	now := s.now()
	c.Version, c.Status, c.IssuedAt, c.UpdatedAt = 1, StatusActive, now, now
	if err := s.sign(ctx, &c); err != nil {
		return Certificate{}, err
	}
	cert, summary, err := s.certItems(c)
	if err != nil {
		return Certificate{}, err
	}
	writes := []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.holders), Key: ddb.Key(holderPK(c.HolderID), "PROFILE"),
			ConditionExpression:                 aws.String("attribute_exists(pk) AND #status = :active"),
			ExpressionAttributeNames:            map[string]string{"#status": "status"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":active": ddb.S(holders.StatusActive)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		ddb.PutNew(s.table, cert),
		ddb.PutNew(s.table, summary),
	}
	if onePerHolder {
		lock := ddb.Key(holderPK(c.HolderID), lockSK(c.Category))
		lock["certificate_id"] = ddb.S(c.ID)
		writes = append(writes, ddb.PutNew(s.table, lock))
	}
	err = s.outbox.Transact(ctx, writes, certEvent(typeIssued, c))
	var tce *types.TransactionCanceledException
	switch failed := ddb.Cancelled(err); {
	case err == nil:
		return c, nil
	case failed[0]:
		errors.As(err, &tce)
		if tce.CancellationReasons[0].Item == nil {
			return Certificate{}, ErrHolderNotFound
		}
		return Certificate{}, ErrHolderNotActive
	case failed[1]:
		prev, gerr := s.Get(ctx, c.ID)
		if gerr == nil && prev.IssuerOrg == c.IssuerOrg && prev.HolderID == c.HolderID && prev.Category == c.Category {
			return prev, nil
		}
		return Certificate{}, ErrChanged
	case failed[3]:
		return Certificate{}, ErrCertificateExists
	}
	return Certificate{}, fmt.Errorf("issue certificate: %w", err)
}

// Get reads one certificate, consistently.
func (s *Store) Get(ctx context.Context, id string) (Certificate, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(certPK(id), skCert), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("get certificate: %w", err)
	}
	if out.Item == nil {
		return Certificate{}, ErrCertificateNotFound
	}
	return unmarshalCert(out.Item)
}

// Change is one issuer's change of a certificate: apply edits a copy of
// the stored record (or answers ErrInvalidTransition), and the change is
// written with its event type.
type Change struct {
	Event string
	Apply func(c *Certificate) error
}

// maxChangeAttempts bounds the retries of a change that keeps losing to
// concurrent ones.
const maxChangeAttempts = 3

// Change applies ch to certificate id of issuer org: a new version, signed
// again, written conditional on the version read, with its event.
func (s *Store) Change(ctx context.Context, org, id string, ch Change) (Certificate, error) {
	for range maxChangeAttempts {
		c, err := s.Get(ctx, id)
		if err != nil {
			return Certificate{}, err
		}
		if c.IssuerOrg != org {
			return Certificate{}, ErrCertificateNotFound
		}
		if c.Status == StatusRevoked {
			return Certificate{}, ErrInvalidTransition
		}
		prev := c.Version
		if err := ch.Apply(&c); err != nil {
			return Certificate{}, err
		}
		c.Version, c.UpdatedAt = prev+1, s.now()
		if c.Status == StatusRevoked {
			at := c.UpdatedAt
			c.RevokedAt = &at
		}
		if err := s.sign(ctx, &c); err != nil {
			return Certificate{}, err
		}
		cert, summary, err := s.certItems(c)
		if err != nil {
			return Certificate{}, err
		}
		writes := []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(s.table), Item: cert, ConditionExpression: aws.String("version = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": ddb.N(prev)}}},
			{Put: &types.Put{TableName: aws.String(s.table), Item: summary, ConditionExpression: aws.String("attribute_exists(pk)")}},
		}
		if c.Status == StatusRevoked {
			// The lock goes with revocation: a successor may be issued.
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: aws.String(s.table), Key: ddb.Key(holderPK(c.HolderID), lockSK(c.Category)),
				ConditionExpression:       aws.String("attribute_not_exists(pk) OR certificate_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": ddb.S(c.ID)},
			}})
		}
		err = s.outbox.Transact(ctx, writes, certEvent(ch.Event, c))
		if failed := ddb.Cancelled(err); err != nil && (failed[0] || ddb.IsConflict(err)) {
			continue
		}
		if err != nil {
			return Certificate{}, fmt.Errorf("change certificate: %w", err)
		}
		return c, nil
	}
	return Certificate{}, ErrChanged
}

// Page is one page of a listing of certificates.
type Page = ddb.Page[Certificate]

// ByHolder pages through holderID's certificates (summaries: no fields),
// optionally of one category: by category, then newest first.
func (s *Store) ByHolder(ctx context.Context, holderID, category string, limit int, cursor string) (Page, error) {
	prefix := "CERT#"
	if category != "" {
		prefix += category + "#"
	}
	items, err := ddb.QueryItems(ctx, s.db, s.holderQuery(holderID, prefix), limit, cursor)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: make([]Certificate, 0, len(items.Items)), NextCursor: items.NextCursor}
	for _, it := range items.Items {
		c, err := unmarshalCert(it)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, c)
	}
	return page, nil
}

// holderQuery lists holderID's items whose sort key starts with prefix,
// in descending sort key order, consistently; a cursor must stay under
// the prefix asked for.
func (s *Store) holderQuery(holderID, prefix string) ddb.PageQuery {
	return ddb.PageQuery{Table: s.table, PK: holderPK(holderID), Prefix: prefix, Consistent: true}
}

// Full reads the certificate items of summaries (with fields), consistently,
// in the summaries' order.
func (s *Store) Full(ctx context.Context, summaries []Certificate) ([]Certificate, error) {
	if len(summaries) == 0 {
		return nil, nil
	}
	keys := make([]map[string]types.AttributeValue, len(summaries))
	for i, c := range summaries {
		keys[i] = ddb.Key(certPK(c.ID), skCert)
	}
	items, err := awsclient.BatchGetAll(ctx, s.db, s.table, keys)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	byID := make(map[string]Certificate, len(items))
	for _, it := range items {
		c, err := unmarshalCert(it)
		if err != nil {
			return nil, err
		}
		byID[c.ID] = c
	}
	full := make([]Certificate, 0, len(summaries))
	for _, c := range summaries {
		if f, ok := byID[c.ID]; ok {
			full = append(full, f)
		}
	}
	return full, nil
}

// LogAccess writes one entry to holderID's access log (holders' item).
func (s *Store) LogAccess(ctx context.Context, holderID string, e holders.AccessEntry) error {
	w, err := holders.AccessWrite(s.holders, holderID, e)
	if err != nil {
		return err
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{w}}); err != nil {
		return fmt.Errorf("write access log: %w", err)
	}
	return nil
}
