package qrverify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/holders"
)

// ErrReplayed is a single-use code accepted before for the same purpose.
var ErrReplayed = errors.New("qrverify: code already used for this purpose")

// Use is one acceptance of a code for a purpose.
type Use struct {
	Purpose string
	Issuer  string
	CodeID  [8]byte
	// Until is when the mark may be forgotten: the code can no longer verify.
	Until time.Time
}

// Store is what verification needs of storage: one read of the holder and
// one write that accepts the code (the single-use mark and the access-log
// entry together).
type Store interface {
	Holder(ctx context.Context, holderID string) (holders.Holder, holders.Account, error)
	// Accept records the use (when use is not nil, conditionally: ErrReplayed
	// if it exists) and the access-log entry (when entry is not nil), in one
	// write.
	Accept(ctx context.Context, use *Use, holderID string, entry *holders.AccessEntry) error
}

// DynamoStore keeps single-use marks in CodeUsesTable (pk, TTL expires_at)
// and writes access-log entries to the holders table.
type DynamoStore struct {
	db      *dynamodb.Client
	uses    string
	holders *holders.Store
}

// NewDynamoStore returns the store over the two tables.
func NewDynamoStore(db *dynamodb.Client, usesTable, holdersTable string) *DynamoStore {
	return &DynamoStore{db: db, uses: usesTable, holders: holders.NewStore(db, holdersTable, nil)}
}

// Holder reads the holder's profile and account in one call.
func (s *DynamoStore) Holder(ctx context.Context, id string) (holders.Holder, holders.Account, error) {
	return s.holders.Snapshot(ctx, id)
}

// Accept writes the use mark and the access entry in one call.
func (s *DynamoStore) Accept(ctx context.Context, use *Use, holderID string, entry *holders.AccessEntry) error {
	var writes []types.TransactWriteItem
	if use != nil {
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.uses),
			Item: map[string]types.AttributeValue{
				"pk":         &types.AttributeValueMemberS{Value: use.Purpose + "#" + use.Issuer + "#" + hex.EncodeToString(use.CodeID[:])},
				"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(use.Until.Unix(), 10)},
			},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	if entry != nil {
		w, err := s.holders.AccessLogWrite(holderID, *entry)
		if err != nil {
			return err
		}
		writes = append(writes, w)
	}
	switch len(writes) {
	case 0:
		return nil
	case 1:
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: writes[0].Put.TableName, Item: writes[0].Put.Item, ConditionExpression: writes[0].Put.ConditionExpression,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return ErrReplayed
		}
		if err != nil {
			return fmt.Errorf("accept code: %w", err)
		}
		return nil
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && use != nil && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("accept code: %w", err)
	}
	return nil
}
