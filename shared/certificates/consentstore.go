package certificates

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
)

// Consent is a holder's consent for an organisation to read certificates
// of some categories for a purpose, until ValidUntil. It is stored twice:
// the consent item (read by id at lookup) and the holder's copy (listed by
// GET /v1/consents), written and withdrawn together. Window consents are
// written by qr-verify (shared/qrverify/store.go, consentItem and
// holderConsentItem), app consents by GrantConsent.
type Consent struct {
	ID           string     `dynamodbav:"consent_id"`
	HolderID     string     `dynamodbav:"holder_id"`
	Organisation string     `dynamodbav:"organisation"`
	Purpose      string     `dynamodbav:"purpose"`
	Categories   []string   `dynamodbav:"categories"`
	Source       string     `dynamodbav:"source"`
	CreatedAt    time.Time  `dynamodbav:"created_at"`
	ValidUntil   time.Time  `dynamodbav:"valid_until"`
	WithdrawnAt  *time.Time `dynamodbav:"withdrawn_at,omitempty"`
	// TTL is when DynamoDB may delete the items (epoch seconds):
	// consentRetention after ValidUntil.
	TTL int64 `dynamodbav:"expires_at,omitempty"`
}

// Consent sources and statuses as answered.
const (
	SourceWindow = "window"
	SourceApp    = "app"

	ConsentActive    = "active"
	ConsentExpired   = "expired"
	ConsentWithdrawn = "withdrawn"
)

// consentRetention is how long a consent outlives its end before TTL
// deletes it: the holder's record of it (qr-verify keeps the same).
const consentRetention = 90 * 24 * time.Hour

// StatusAt is the consent's status at now: withdrawn, expired (checked
// against ValidUntil, never left to TTL) or active.
func (c Consent) StatusAt(now time.Time) string {
	switch {
	case c.WithdrawnAt != nil:
		return ConsentWithdrawn
	case !now.Before(c.ValidUntil):
		return ConsentExpired
	}
	return ConsentActive
}

// holderConsentSK is the holder's copy's sort key: newest first.
func holderConsentSK(c Consent) string {
	return "CONSENT#" + holders.TimeKey(c.CreatedAt) + "#" + c.ID
}

// Consent reads a consent; false when there is none.
func (s *Store) Consent(ctx context.Context, id string) (Consent, bool, error) {
	var c Consent
	found, err := ddb.Get(ctx, s.db, s.table, consentPK(id), skConsent, &c)
	if err != nil {
		return Consent{}, false, fmt.Errorf("consent: %w", err)
	}
	return c, found, nil
}

// GrantConsent stores the new consent c (an app consent) and its
// consent_granted entry in the holder's access log, in one transaction
// conditional on the id being new. A repeated id (a retried request, whose
// id derives from its Idempotency-Key) answers the stored consent.
func (s *Store) GrantConsent(ctx context.Context, c Consent, actor string) (Consent, error) {
	c.TTL = c.ValidUntil.Add(consentRetention).Unix()
	item, err := ddb.Item(consentPK(c.ID), skConsent, c)
	if err != nil {
		return Consent{}, err
	}
	mine, err := ddb.Item(holderPK(c.HolderID), holderConsentSK(c), c)
	if err != nil {
		return Consent{}, err
	}
	granted, err := holders.AccessWrite(s.holders, c.HolderID, holders.AccessEntry{At: c.CreatedAt, Organisation: c.Organisation,
		Actor: actor, Purpose: c.Purpose, What: c.Categories, Outcome: outcomeConsentGranted})
	if err != nil {
		return Consent{}, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		ddb.PutNew(s.table, item), ddb.PutNew(s.table, mine), granted,
	}})
	if failed := ddb.Cancelled(err); failed[0] {
		prev, ok, gerr := s.Consent(ctx, c.ID)
		if gerr == nil && ok && prev.HolderID == c.HolderID {
			return prev, nil
		}
		return Consent{}, ErrChanged
	}
	if err != nil {
		return Consent{}, fmt.Errorf("grant consent: %w", err)
	}
	return c, nil
}

// Consents pages through holderID's consents, newest first (withdrawn and
// expired ones too, until TTL removes them).
func (s *Store) Consents(ctx context.Context, holderID string, limit int, cursor string) ([]Consent, string, error) {
	page, err := ddb.QueryPage[Consent](ctx, s.db, s.holderQuery(holderID, "CONSENT#"), limit, cursor)
	if err != nil {
		return nil, "", err
	}
	return page.Items, page.NextCursor, nil
}

// WithdrawConsent marks c (as read) withdrawn at e.At, in both its items,
// with the consent_withdrawn entry e in the holder's access log, in one
// transaction. A consent withdrawn meanwhile is not an error: withdrawing
// is idempotent.
func (s *Store) WithdrawConsent(ctx context.Context, c Consent, e holders.AccessEntry) error {
	withdraw := func(pk, sk string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(pk, sk),
			UpdateExpression:          aws.String("SET withdrawn_at = :at"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(withdrawn_at)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": ddb.S(e.At.UTC().Format(time.RFC3339Nano))},
		}}
	}
	logged, err := holders.AccessWrite(s.holders, c.HolderID, e)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		withdraw(consentPK(c.ID), skConsent), withdraw(holderPK(c.HolderID), holderConsentSK(c)), logged,
	}})
	if failed := ddb.Cancelled(err); failed[0] {
		return nil // withdrawn by a concurrent call
	}
	if err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	return nil
}
