package certificates

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// certItems are the certificate item and its holder's summary (no fields,
// no document).
func (s *Store) certItems(c Certificate) (cert, summary map[string]types.AttributeValue, err error) {
	c.FieldsJSON = string(c.Fields)
	if cert, err = attributevalue.MarshalMap(c); err != nil {
		return nil, nil, fmt.Errorf("marshal certificate: %w", err)
	}
	cert["pk"], cert["sk"] = str(certPK(c.ID)), str(skCert)
	c.FieldsJSON, c.Document = "", ""
	if summary, err = attributevalue.MarshalMap(c); err != nil {
		return nil, nil, fmt.Errorf("marshal certificate: %w", err)
	}
	summary["pk"], summary["sk"] = str(holderPK(c.HolderID)), str(holderSK(c))
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

// sign stores c's current document in c.
func (s *Store) sign(c *Certificate) error {
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
	if err := s.sign(&c); err != nil {
		return Certificate{}, err
	}
	cert, summary, err := s.certItems(c)
	if err != nil {
		return Certificate{}, err
	}
	writes := []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.holders), Key: key(holderPK(c.HolderID), "PROFILE"),
			ConditionExpression:                 aws.String("attribute_exists(pk) AND #status = :active"),
			ExpressionAttributeNames:            map[string]string{"#status": "status"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":active": str(holders.StatusActive)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		putNew(s.table, cert),
		putNew(s.table, summary),
	}
	if onePerHolder {
		lock := key(holderPK(c.HolderID), lockSK(c.Category))
		lock["certificate_id"] = str(c.ID)
		writes = append(writes, putNew(s.table, lock))
	}
	err = s.outbox.Transact(ctx, writes, certEvent(typeIssued, c))
	var tce *types.TransactionCanceledException
	switch failed := cancelled(err); {
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

func putNew(table string, it map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(table), Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}
}

// cancelled reports which items of a cancelled transaction failed their
// condition; nil when err is not a cancellation.
func cancelled(err error) map[int]bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	failed := map[int]bool{}
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			failed[i] = true
		}
	}
	return failed
}

// Get reads one certificate, consistently.
func (s *Store) Get(ctx context.Context, id string) (Certificate, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(certPK(id), skCert), ConsistentRead: aws.Bool(true),
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
		if err := s.sign(&c); err != nil {
			return Certificate{}, err
		}
		cert, summary, err := s.certItems(c)
		if err != nil {
			return Certificate{}, err
		}
		writes := []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(s.table), Item: cert, ConditionExpression: aws.String("version = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(prev)}}},
			{Put: &types.Put{TableName: aws.String(s.table), Item: summary, ConditionExpression: aws.String("attribute_exists(pk)")}},
		}
		if c.Status == StatusRevoked {
			// The lock goes with revocation: a successor may be issued.
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: aws.String(s.table), Key: key(holderPK(c.HolderID), lockSK(c.Category)),
				ConditionExpression:       aws.String("attribute_not_exists(pk) OR certificate_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(c.ID)},
			}})
		}
		err = s.outbox.Transact(ctx, writes, certEvent(ch.Event, c))
		if failed := cancelled(err); err != nil && (failed[0] || isConflict(err)) {
			continue
		}
		if err != nil {
			return Certificate{}, fmt.Errorf("change certificate: %w", err)
		}
		return c, nil
	}
	return Certificate{}, ErrChanged
}

// isConflict reports a transaction cancelled because another one held an item.
func isConflict(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}

// Page is one page of a listing.
type Page struct {
	Items      []Certificate
	NextCursor string
}

// ByHolder pages through holderID's certificates (summaries: no fields),
// optionally of one category: by category, then newest first.
func (s *Store) ByHolder(ctx context.Context, holderID, category string, limit int, cursor string) (Page, error) {
	prefix := "CERT#"
	if category != "" {
		prefix += category + "#"
	}
	items, next, err := s.holderItems(ctx, holderID, prefix, limit, cursor)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: make([]Certificate, 0, len(items)), NextCursor: next}
	for _, it := range items {
		c, err := unmarshalCert(it)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, c)
	}
	return page, nil
}

// holderItems pages through holderID's items whose sort key starts with
// prefix, in descending sort key order, consistently. The cursor carries
// the sort key and must stay under the prefix asked for.
func (s *Store) holderItems(ctx context.Context, holderID, prefix string, limit int, cursor string) ([]map[string]types.AttributeValue, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(holderPK(holderID)), ":prefix": str(prefix),
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
		Limit:            aws.Int32(int32(limit)),
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return nil, "", errCorruptCursor
		}
		in.ExclusiveStartKey = key(holderPK(holderID), string(raw))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("query holder's items: %w", err)
	}
	var next string
	if sk, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS); ok {
		next = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return out.Items, next, nil
}

// Full reads the certificate items of summaries (with fields), consistently,
// in the summaries' order.
func (s *Store) Full(ctx context.Context, summaries []Certificate) ([]Certificate, error) {
	if len(summaries) == 0 {
		return nil, nil
	}
	keys := make([]map[string]types.AttributeValue, len(summaries))
	for i, c := range summaries {
		keys[i] = key(certPK(c.ID), skCert)
	}
	byID := map[string]Certificate{}
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt == 5 {
			return nil, errors.New("read certificates: throttled")
		}
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		for _, it := range out.Responses[s.table] {
			c, err := unmarshalCert(it)
			if err != nil {
				return nil, err
			}
			byID[c.ID] = c
		}
		req = out.UnprocessedKeys
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
