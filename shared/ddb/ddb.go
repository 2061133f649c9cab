// Package ddb holds the few DynamoDB expressions every store writes the
// same way: attribute values and keys, an item with its keys, a
// consistent read of one item, a put that only creates, what a cancelled
// transaction says about its items, and a page of a Query with an opaque
// cursor.
//
// The tables it serves all key items by a string partition key "pk" and a
// string sort key "sk" (template.yaml).
package ddb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// S is the string attribute value s.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N is the number attribute value n.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Key is the primary key of the item (pk, sk); written as a whole item, it
// is one that holds nothing but its keys (an index entry, a lock).
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": S(pk), "sk": S(sk)}
}

// Item marshals v (attributevalue.MarshalMap) and adds its keys pk and sk,
// which win over any pk or sk attribute of v's.
func Item(pk, sk string, v any) (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", sk, err)
	}
	m["pk"], m["sk"] = S(pk), S(sk)
	return m, nil
}

// Put writes item into table in a transaction, whatever is there.
func Put(table string, item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: item}}
}

// PutNew writes item into table in a transaction on condition that no item
// has its key yet (attribute_not_exists(pk)): it creates, never replaces.
// When an item is there, the transaction is cancelled with this item's
// reason ConditionalCheckFailed (see Cancelled).
func PutNew(table string, item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}
}

// Cancelled answers which items of a cancelled TransactWriteItems failed
// their condition, by their index in the transaction: failed[i] is true
// when item i's reason is ConditionalCheckFailed. It is nil when err is
// not a cancellation (nil, or another error), and empty when the
// transaction was cancelled for other reasons only (a TransactionConflict,
// say); indexing a nil answer is safe and false.
func Cancelled(err error) map[int]bool {
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

// IsConflict reports whether err is a transaction cancelled because
// another transaction in flight held one of its items (a reason
// TransactionConflict): worth retrying, unlike a failed condition.
func IsConflict(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	return slices.ContainsFunc(tce.CancellationReasons, func(r types.CancellationReason) bool {
		return aws.ToString(r.Code) == "TransactionConflict"
	})
}

// Getter is what Get needs of a client (*dynamodb.Client).
type Getter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Get reads item (pk, sk) of table, strongly consistently, into v
// (attributevalue.UnmarshalMap); found is false, and v untouched, when
// there is none.
func Get(ctx context.Context, db Getter, table, pk, sk string, v any) (found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: Key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("get %s: %w", sk, err)
	}
	if out.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return false, fmt.Errorf("unmarshal %s: %w", sk, err)
	}
	return true, nil
}

// ErrCorruptCursor is a cursor that this package did not give out for the
// listing it was offered to: not base64url, or a sort key outside it.
var ErrCorruptCursor = errors.New("ddb: corrupt cursor")

// Cursor is the opaque cursor of the page after a Query that stopped at
// last (its LastEvaluatedKey): the base64url of last's sort key, and ""
// when there is none (the last page). It carries only the sort key: the
// partition is always the caller's, never the client's.
func Cursor(last map[string]types.AttributeValue) string {
	if sk, ok := last["sk"].(*types.AttributeValueMemberS); ok {
		return base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return ""
}

// StartKey turns cursor (from Cursor) back into the ExclusiveStartKey of a
// Query of partition pk, if ok accepts the sort key it carries; otherwise
// ErrCorruptCursor. A cursor never reaches another partition, only
// another place in pk, and ok keeps it to the items being listed. An
// empty cursor is the first page: a nil key.
func StartKey(pk, cursor string, ok func(sk string) bool) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ok(string(raw)) {
		return nil, ErrCorruptCursor
	}
	return Key(pk, string(raw)), nil
}

// Querier is what QueryPage needs of a client (*dynamodb.Client).
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// PageQuery names the items a page lists: those of partition PK of Table
// whose sort key starts with Prefix, newest (greatest sort key) first
// unless Forward.
type PageQuery struct {
	Table  string
	PK     string
	Prefix string
	// Forward lists in ascending sort key order (oldest first); the zero
	// value lists newest first.
	Forward bool
	// Consistent reads strongly consistently.
	Consistent bool
}

// Page is one page of a listing and the cursor of the next ("" on the last).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// QueryItems reads one page of at most limit items of q, from cursor ("" for
// the first page), as they are stored. The cursor carries only the sort key,
// and must have q's prefix (ErrCorruptCursor otherwise), so that a cursor
// of one listing cannot reach another partition or another kind of item.
func QueryItems(ctx context.Context, db Querier, q PageQuery, limit int, cursor string) (Page[map[string]types.AttributeValue], error) {
	start, err := StartKey(q.PK, cursor, func(sk string) bool { return strings.HasPrefix(sk, q.Prefix) })
	if err != nil {
		return Page[map[string]types.AttributeValue]{}, err
	}
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(q.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": S(q.PK), ":prefix": S(q.Prefix),
		},
		ScanIndexForward:  aws.Bool(q.Forward),
		ConsistentRead:    aws.Bool(q.Consistent),
		Limit:             aws.Int32(int32(limit)),
		ExclusiveStartKey: start,
	})
	if err != nil {
		return Page[map[string]types.AttributeValue]{}, fmt.Errorf("query %s: %w", q.Prefix, err)
	}
	return Page[map[string]types.AttributeValue]{Items: out.Items, NextCursor: Cursor(out.LastEvaluatedKey)}, nil
}

// QueryPage is QueryItems with the items unmarshalled into T
// (attributevalue.UnmarshalListOfMaps). Items is never nil.
func QueryPage[T any](ctx context.Context, db Querier, q PageQuery, limit int, cursor string) (Page[T], error) {
	raw, err := QueryItems(ctx, db, q, limit, cursor)
	if err != nil {
		return Page[T]{}, err
	}
	page := Page[T]{Items: make([]T, 0, len(raw.Items)), NextCursor: raw.NextCursor}
	if err := attributevalue.UnmarshalListOfMaps(raw.Items, &page.Items); err != nil {
		return Page[T]{}, fmt.Errorf("unmarshal %s: %w", q.Prefix, err)
	}
	return page, nil
}
