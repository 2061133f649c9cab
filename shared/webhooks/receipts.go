package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/outbox"
)

// Receipts are the proof that an organisation's endpoint accepted an
// event, for the capabilities that must show a report reached an agency
// within a deadline (lodging's police reports, infra/lodging.md). Delivery
// records one when an endpoint answers 2xx to an event of a receipted type;
// the first is kept. An item of DeliveryReceiptsTable:
//
//	RECEIPT#<event subject>   <event type>#<org>   event_id, subscription_id, delivered_at, attempt
//
// Keyed by subject and type, so a capability whose events have subjects of
// their own (a registration id) finds each receipt by key.

// ReceiptRetention is how long a receipt is kept.
const ReceiptRetention = 30 * 24 * time.Hour

// Receipt is one organisation's acknowledgement of one event.
type Receipt struct {
	EventID        string    `dynamodbav:"event_id"`
	SubscriptionID string    `dynamodbav:"subscription_id"`
	DeliveredAt    time.Time `dynamodbav:"delivered_at"`
	Attempt        int       `dynamodbav:"attempt"`
}

// ReceiptKey names the receipt of the event of Type about Subject, as Org
// received it.
type ReceiptKey struct {
	Subject, Type, Org string
}

// keys are the keys of k's item.
func (k ReceiptKey) keys() (pk, sk string) { return "RECEIPT#" + k.Subject, k.Type + "#" + k.Org }

// ReceiptStore keeps receipts in one table.
type ReceiptStore struct {
	db    *dynamodb.Client
	table string
	// types are the receipted event types: exact names or prefix.* patterns.
	types []string
}

// NewReceiptStore returns a store on table that records receipts of the
// event types matching patterns (exact names or "prefix.*").
func NewReceiptStore(db *dynamodb.Client, table string, patterns []string) *ReceiptStore {
	return &ReceiptStore{db: db, table: table, types: patterns}
}

// ParseReceiptTypes reads a comma-separated list of exact event types and
// prefix.* patterns (RECEIPT_TYPES).
func ParseReceiptTypes(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *ReceiptStore) receipted(eventType string) bool {
	for _, p := range s.types {
		if p == eventType || (strings.HasSuffix(p, ".*") && strings.HasPrefix(eventType, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

// Record notes that org (through subscription subID) accepted e at attempt
// n, if e's type is receipted. A receipt already there is kept: the first
// delivery is the one that counts.
func (s *ReceiptStore) Record(ctx context.Context, org, subID string, e outbox.Envelope, at time.Time, n int) error {
	if !s.receipted(e.Type) {
		return nil
	}
	pk, sk := ReceiptKey{Subject: e.Subject, Type: e.Type, Org: org}.keys()
	it, err := ddb.Item(pk, sk, Receipt{EventID: e.ID, SubscriptionID: subID, DeliveredAt: at.UTC(), Attempt: n})
	if err != nil {
		return fmt.Errorf("webhooks: receipt: %w", err)
	}
	it["expires_at"] = ddb.N(at.Add(ReceiptRetention).Unix())
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("webhooks: record receipt of %s: %w", e.ID, err)
	}
	return nil
}

// Received answers the receipts that exist among keys, read consistently.
func (s *ReceiptStore) Received(ctx context.Context, keys []ReceiptKey) (map[ReceiptKey]Receipt, error) {
	out := map[ReceiptKey]Receipt{}
	if len(keys) == 0 {
		return out, nil
	}
	byItem := map[[2]string]ReceiptKey{}
	items := make([]map[string]types.AttributeValue, 0, len(keys))
	for _, k := range keys {
		pk, sk := k.keys()
		id := [2]string{pk, sk}
		if _, dup := byItem[id]; !dup {
			byItem[id] = k
			items = append(items, ddb.Key(pk, sk))
		}
	}
	found, err := awsclient.BatchGetAll(ctx, s.db, s.table, items)
	if err != nil {
		return nil, fmt.Errorf("webhooks: read receipts: %w", err)
	}
	for _, it := range found {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		sk, _ := it["sk"].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			return nil, errors.New("webhooks: malformed receipt")
		}
		var r Receipt
		if err := attributevalue.UnmarshalMap(it, &r); err != nil {
			return nil, fmt.Errorf("webhooks: unmarshal receipt: %w", err)
		}
		out[byItem[[2]string{pk.Value, sk.Value}]] = r
	}
	return out, nil
}
