package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// Errors of the store.
var (
	// ErrNotFound: no such subscription, or another organisation's.
	ErrNotFound = errors.New("subscriptions: subscription not found")
	// ErrTooMany: the organisation has MaxPerOrg subscriptions already.
	ErrTooMany       = errors.New("subscriptions: too many subscriptions")
	errCorruptCursor = ddb.ErrCorruptCursor
)

// MaxPerOrg bounds one organisation's subscriptions, and so the whole set
// that delivery reads (Matching).
const MaxPerOrg = 25

// DeadLetterRetention is how long a dead letter stays listable.
const DeadLetterRetention = 30 * 24 * time.Hour

// Store keeps subscriptions and their dead letters in SubscriptionsTable
// (pk `pk`, sk `sk`, TTL `expires_at`):
//
//	SUB#<id>   SUB                      the subscription
//	ORG#<org>  SUB#<id>                 lists an organisation's subscriptions
//	ORG#<org>  COUNT                    n, how many it has (at most MaxPerOrg)
//	ALL        SUB#<id>                 lists every subscription, for Matching
//	SUB#<id>   DEAD#<event time>#<id>   a dead letter
//
// Every rule (ownership, the per-organisation limit, concurrent changes)
// is a condition on a write.
type Store struct {
	db     *dynamodb.Client
	table  string
	policy Policy
	now    func() time.Time
}

// NewStore returns a Store on table. Matching delivers only the types
// policy still allows each organisation, whatever its subscriptions say.
func NewStore(db *dynamodb.Client, table string, policy Policy) *Store {
	return &Store{db: db, table: table, policy: policy, now: func() time.Time { return time.Now().UTC() }}
}

const (
	pkAll     = "ALL"
	skSub     = "SUB"
	skCount   = "COUNT"
	subPrefix = "SUB#"
	orgPrefix = "ORG#"
	deadPref  = "DEAD#"
	// timeLayout is fixed width, so that sort keys order by time.
	timeLayout = "2006-01-02T15:04:05.000000000Z"
)

func subPK(id string) string  { return subPrefix + id }
func orgPK(org string) string { return orgPrefix + org }

// Create stores a new active subscription of org with a fresh secret,
// unless org has MaxPerOrg already (ErrTooMany).
func (s *Store) Create(ctx context.Context, org, endpoint string, eventTypes []string) (Subscription, error) {
	id, err := newID("sub")
	if err != nil {
		return Subscription{}, err
	}
	now := s.now()
	sub := Subscription{ID: id, Org: org, Endpoint: endpoint, Types: eventTypes, Status: StatusActive,
		Secrets: []Secret{newSecret()}, CreatedAt: now, UpdatedAt: now, Version: 1}
	it, err := ddb.Item(subPK(id), skSub, sub)
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription: %w", err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(orgPK(org), skCount),
			UpdateExpression:          aws.String("SET n = if_not_exists(n, :zero) + :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :max"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": ddb.N(0), ":one": ddb.N(1), ":max": ddb.N(MaxPerOrg)},
		}},
		ddb.PutNew(s.table, it),
		ddb.Put(s.table, ddb.Key(orgPK(org), subPK(id))),
		ddb.Put(s.table, ddb.Key(pkAll, subPK(id))),
	}})
	if ddb.Cancelled(err)[0] {
		return Subscription{}, ErrTooMany
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription: %w", err)
	}
	return sub, nil
}

// Get reads subscription id, whoever owns it: callers acting for an
// organisation compare Org.
func (s *Store) Get(ctx context.Context, id string) (Subscription, error) {
	var sub Subscription
	found, err := ddb.Get(ctx, s.db, s.table, subPK(id), skSub, &sub)
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription: %w", err)
	}
	if !found {
		return Subscription{}, ErrNotFound
	}
	return sub, nil
}

func unmarshal(it map[string]types.AttributeValue) (Subscription, error) {
	var sub Subscription
	if err := attributevalue.UnmarshalMap(it, &sub); err != nil {
		return Subscription{}, fmt.Errorf("unmarshal subscription: %w", err)
	}
	return sub, nil
}

// Page is one page of a list and the cursor of the next ("" on the last).
type Page[T any] = ddb.Page[T]

// ListByOrg pages through org's subscriptions, oldest first.
func (s *Store) ListByOrg(ctx context.Context, org string, limit int, cursor string) (Page[Subscription], error) {
	keys, next, err := s.query(ctx, orgPK(org), subPrefix, true, limit, cursor)
	if err != nil {
		return Page[Subscription]{}, err
	}
	ids := make([]string, 0, len(keys))
	for _, it := range keys {
		ids = append(ids, strings.TrimPrefix(skOf(it), subPrefix))
	}
	subs, err := s.getMany(ctx, ids)
	if err != nil {
		return Page[Subscription]{}, err
	}
	return Page[Subscription]{Items: subs, NextCursor: next}, nil
}

// query reads one page of pk's items whose sort key starts with prefix,
// consistently (ddb.QueryItems: the cursor cannot leave the prefix).
func (s *Store) query(ctx context.Context, pk, prefix string, forward bool, limit int, cursor string) ([]map[string]types.AttributeValue, string, error) {
	page, err := ddb.QueryItems(ctx, s.db, ddb.PageQuery{Table: s.table, PK: pk, Prefix: prefix, Forward: forward, Consistent: true}, limit, cursor)
	return page.Items, page.NextCursor, err
}

func skOf(it map[string]types.AttributeValue) string {
	sk, _ := it["sk"].(*types.AttributeValueMemberS)
	if sk == nil {
		return ""
	}
	return sk.Value
}

// getMany reads subscriptions by id in consistent BatchGetItems, in the
// order of ids; ids deleted meanwhile are left out.
func (s *Store) getMany(ctx context.Context, ids []string) ([]Subscription, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, ddb.Key(subPK(id), skSub))
	}
	items, err := awsclient.BatchGetAll(ctx, s.db, s.table, keys)
	if err != nil {
		return nil, fmt.Errorf("get subscriptions: %w", err)
	}
	byID := map[string]Subscription{}
	for _, it := range items {
		sub, err := unmarshal(it)
		if err != nil {
			return nil, err
		}
		byID[sub.ID] = sub
	}
	subs := make([]Subscription, 0, len(byID))
	for _, id := range ids {
		if sub, ok := byID[id]; ok {
			subs = append(subs, sub)
		}
	}
	return subs, nil
}

// Matching returns the active subscriptions that want eventType and whose
// organisation's policy allows it, oldest first. It reads every
// subscription (at most MaxPerOrg per organisation): callers delivering
// many events cache the answer for a short while.
func (s *Store) Matching(ctx context.Context, eventType string) ([]Subscription, error) {
	var ids []string
	cursor := ""
	for {
		items, next, err := s.query(ctx, pkAll, subPrefix, true, 1000, cursor)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			ids = append(ids, strings.TrimPrefix(skOf(it), subPrefix))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	all, err := s.getMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(sub Subscription) bool {
		return sub.Status != StatusActive || !sub.Wants(eventType) || !s.policy.Allows(sub.Org, eventType)
	}), nil
}

// Update holds the fields an organisation may change; nil leaves a field
// as it is.
type Update struct {
	Status   *string
	Endpoint *string
	Types    []string
}

// Update applies u to org's subscription id; ErrNotFound for anyone
// else's. Setting a status clears a disabled reason.
func (s *Store) Update(ctx context.Context, org, id string, u Update) (Subscription, error) {
	set := []string{"updated_at = :now", "version = version + :one"}
	values := map[string]types.AttributeValue{
		":now": ddb.S(s.now().Format(time.RFC3339Nano)), ":one": ddb.N(1), ":org": ddb.S(org),
	}
	names := map[string]string{}
	remove := ""
	if u.Status != nil {
		set, names["#status"], values[":status"] = append(set, "#status = :status"), "status", ddb.S(*u.Status)
		remove = " REMOVE disabled_reason"
	}
	if u.Endpoint != nil {
		set, values[":endpoint"] = append(set, "endpoint = :endpoint"), ddb.S(*u.Endpoint)
	}
	if u.Types != nil {
		tv, err := attributevalue.Marshal(u.Types)
		if err != nil {
			return Subscription{}, fmt.Errorf("marshal types: %w", err)
		}
		set, names["#types"], values[":types"] = append(set, "#types = :types"), "types", tv
	}
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(subPK(id), skSub),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + remove),
		ConditionExpression:       aws.String("org = :org"),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	out, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Subscription{}, ErrNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription: %w", err)
	}
	return unmarshal(out.Attributes)
}

// Delete removes org's subscription id; ErrNotFound for anyone else's.
// Its dead letters expire on their own (DeadLetterRetention).
func (s *Store) Delete(ctx context.Context, org, id string) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: aws.String(s.table), Key: ddb.Key(subPK(id), skSub),
			ConditionExpression:       aws.String("org = :org"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":org": ddb.S(org)},
		}},
		{Delete: &types.Delete{TableName: aws.String(s.table), Key: ddb.Key(orgPK(org), subPK(id))}},
		{Delete: &types.Delete{TableName: aws.String(s.table), Key: ddb.Key(pkAll, subPK(id))}},
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(orgPK(org), skCount),
			UpdateExpression:          aws.String("ADD n :minus"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": ddb.N(-1)},
		}},
	}})
	if ddb.Cancelled(err)[0] {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	return nil
}

// RotateSecret gives org's subscription id a new current secret (first in
// Secrets); the old one keeps signing for RotationOverlap. ErrNotFound for
// anyone else's.
func (s *Store) RotateSecret(ctx context.Context, org, id string) (Subscription, error) {
	for attempt := 0; ; attempt++ {
		sub, err := s.Get(ctx, id)
		if err != nil {
			return Subscription{}, err
		}
		if sub.Org != org {
			return Subscription{}, ErrNotFound
		}
		now := s.now()
		sub.Secrets, sub.UpdatedAt = rotate(sub, now), now
		secrets, err := attributevalue.Marshal(sub.Secrets)
		if err != nil {
			return Subscription{}, fmt.Errorf("marshal secrets: %w", err)
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: ddb.Key(subPK(id), skSub),
			UpdateExpression:    aws.String("SET secrets = :secrets, updated_at = :now, version = :next"),
			ConditionExpression: aws.String("org = :org AND version = :version"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":secrets": secrets, ":now": ddb.S(now.Format(time.RFC3339Nano)), ":org": ddb.S(org),
				":next": ddb.N(sub.Version + 1), ":version": ddb.N(sub.Version),
			},
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			sub.Version++
			return sub, nil
		case !errors.As(err, &ccf):
			return Subscription{}, fmt.Errorf("rotate secret: %w", err)
		case attempt == 10:
			return Subscription{}, fmt.Errorf("rotate secret: subscription kept changing: %w", err)
		}
	}
}

// Disable stops deliveries to subscription id (its endpoint answered 410
// Gone, say), until its organisation sets it active again. reason is shown
// to the organisation.
func (s *Store) Disable(ctx context.Context, id, reason string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(subPK(id), skSub),
		UpdateExpression:          aws.String("SET #status = :disabled, disabled_reason = :reason, updated_at = :now, version = version + :one"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":disabled": ddb.S(StatusDisabled), ":reason": ddb.S(reason), ":now": ddb.S(s.now().Format(time.RFC3339Nano)), ":one": ddb.N(1)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("disable subscription: %w", err)
	}
	return nil
}

// DeadLetter is an event that could not be delivered to a subscription.
type DeadLetter struct {
	Event      outbox.Envelope
	Attempts   int
	LastStatus int // the endpoint's last HTTP status; 0 when it gave none
	LastError  string
	DeadAt     time.Time
}

type deadItem struct {
	Event      string    `dynamodbav:"event"`
	Attempts   int       `dynamodbav:"attempts"`
	LastStatus int       `dynamodbav:"last_status"`
	LastError  string    `dynamodbav:"last_error"`
	DeadAt     time.Time `dynamodbav:"dead_at"`
	ExpiresAt  int64     `dynamodbav:"expires_at"`
}

// MaxErrorLength bounds a dead letter's last error.
const MaxErrorLength = 500

// AddDeadLetter records that e could not be delivered to subscription id
// after attempts; lastErr is shown to the subscription's organisation, so
// it must describe the endpoint's failure (a timeout, a refused
// connection), never an internal one. One event has one dead letter per
// subscription: recording it again replaces it. ErrNotFound when the
// subscription is gone.
func (s *Store) AddDeadLetter(ctx context.Context, id string, e outbox.Envelope, attempts, lastStatus int, lastErr string) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("marshal dead letter: %w", err)
	}
	now := s.now()
	if len(lastErr) > MaxErrorLength {
		lastErr = strings.ToValidUTF8(lastErr[:MaxErrorLength], "")
	}
	it, err := ddb.Item(subPK(id), deadPref+e.Time.UTC().Format(timeLayout)+"#"+e.ID, deadItem{Event: string(body), Attempts: attempts,
		LastStatus: lastStatus, LastError: lastErr, DeadAt: now, ExpiresAt: now.Add(DeadLetterRetention).Unix()})
	if err != nil {
		return fmt.Errorf("marshal dead letter: %w", err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.table), Key: ddb.Key(subPK(id), skSub), ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
		ddb.Put(s.table, it),
	}})
	if ddb.Cancelled(err)[0] {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("add dead letter: %w", err)
	}
	return nil
}

// DeadLetters pages through subscription id's dead letters, the most
// recent events first.
func (s *Store) DeadLetters(ctx context.Context, id string, limit int, cursor string) (Page[DeadLetter], error) {
	items, next, err := s.query(ctx, subPK(id), deadPref, false, limit, cursor)
	if err != nil {
		return Page[DeadLetter]{}, err
	}
	page := Page[DeadLetter]{Items: make([]DeadLetter, 0, len(items)), NextCursor: next}
	for _, it := range items {
		var d deadItem
		if err := attributevalue.UnmarshalMap(it, &d); err != nil {
			return Page[DeadLetter]{}, fmt.Errorf("unmarshal dead letter: %w", err)
		}
		var e outbox.Envelope
		if err := json.Unmarshal([]byte(d.Event), &e); err != nil {
			return Page[DeadLetter]{}, fmt.Errorf("dead letter %s: %w", skOf(it), err)
		}
		page.Items = append(page.Items, DeadLetter{Event: e, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, DeadAt: d.DeadAt})
	}
	return page, nil
}
