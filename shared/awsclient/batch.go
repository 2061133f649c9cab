package awsclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BatchGetAll reads keys from table with consistent BatchGetItems of at
// most 100 keys, asking again (with backoff, at most 8 rounds) for the keys
// DynamoDB left unprocessed. Items that do not exist are simply absent.
func BatchGetAll(ctx context.Context, db *dynamodb.Client, table string, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for chunk := range slices.Chunk(keys, 100) {
		req := map[string]types.KeysAndAttributes{table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			switch {
			case attempt == 8:
				return nil, errors.New("batch get: keys stayed unprocessed")
			case attempt > 0:
				if err := Sleep(ctx, time.Duration(attempt*attempt)*10*time.Millisecond); err != nil {
					return nil, err
				}
			}
			out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("batch get: %w", err)
			}
			items = append(items, out.Responses[table]...)
			req = out.UnprocessedKeys
		}
	}
	return items, nil
}

// Sleep waits d, or until ctx ends: the pause between retries.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
