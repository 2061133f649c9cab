package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
)

// Position is a place in the outbox's order, the order in which events
// were recorded: Since returns the events after it, and answers the
// position to continue from, so it doubles as a replay cursor. It is the
// fixed-width UTC time of the recording, followed by "#" and the event id
// when it is an event's own position.
type Position string

// Settle is how old a recording must be before Since returns it. An event
// is recorded just before its transaction commits, so a younger one may
// still be in flight, and commit after a replay has passed its position;
// the stream delivers young events, and a replay picks them up on its
// next call.
const Settle = time.Minute

// Errors of replay.
var (
	ErrUnknownEvent = errors.New("outbox: unknown or expired event id")
	ErrBadPosition  = errors.New("outbox: malformed position")
)

// At is the position just before the events recorded at or after t.
func At(t time.Time) Position { return Position(t.UTC().Format(positionLayout)) }

// valid reports whether p is a time in positionLayout, optionally
// followed by "#" and an event id.
func (p Position) valid() bool {
	n := len(positionLayout)
	if len(p) < n || (len(p) > n && p[n] != '#') {
		return false
	}
	_, err := time.Parse(positionLayout, string(p[:n]))
	return err == nil
}

// After is the position of event id, from which Since returns the events
// recorded after it; ErrUnknownEvent when EventsTable does not hold it
// (never written, or deleted after retention).
func (o *Outbox) After(ctx context.Context, id string) (Position, error) {
	out, err := o.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(o.table), Key: ddb.Key(eventPrefix+id, skEvent), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("outbox: read event index: %w", err)
	}
	pos, ok := out.Item["position"].(*types.AttributeValueMemberS)
	if !ok {
		return "", ErrUnknownEvent
	}
	return Position(pos.Value), nil
}

// Since returns, in recorded order, up to limit of the events recorded
// after position after that keep accepts (nil keeps all), and the
// position to continue from. It reads one day after another, from after's
// day, or the start of retention if that is later, to the settled past
// (see Settle), merging each day's shards; when it has read that far the
// position it answers is the settle horizon, from which a later call
// continues.
func (o *Outbox) Since(ctx context.Context, after Position, limit int, keep func(Envelope) bool) ([]Envelope, Position, error) {
	if !after.valid() {
		return nil, "", ErrBadPosition
	}
	if limit < 1 {
		return nil, "", errors.New("outbox: limit must be positive")
	}
	now := o.now()
	horizon := At(now.Add(-Settle))
	if floor := At(now.Add(-o.retention)); after < floor {
		after = floor
	}
	if after >= horizon {
		return nil, after, nil
	}
	var found []Envelope
	for day := string(after[:10]); day <= string(horizon[:10]); {
		lower := day // a bare date sorts before every sort key of its day
		if day == string(after[:10]) {
			lower = string(after)
		}
		shards, err := o.openDay(ctx, day, lower, min(limit, 100))
		if err != nil {
			return nil, "", err
		}
		for {
			sk, body, err := nextOf(ctx, shards)
			if err != nil {
				return nil, "", err
			}
			if sk == "" {
				break
			}
			if Position(sk) > horizon {
				return found, horizon, nil
			}
			var e Envelope
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				return nil, "", fmt.Errorf("outbox: event %s: %w", sk, err)
			}
			if keep != nil && !keep(e) {
				continue
			}
			if found = append(found, e); len(found) == limit {
				return found, Position(sk), nil
			}
		}
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return nil, "", fmt.Errorf("outbox: day %s: %w", day, err)
		}
		day = d.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	return found, horizon, nil
}

// shard reads one partition of a day's events in sort-key order, a page
// at a time.
type shard struct {
	db    *dynamodb.Client
	in    *dynamodb.QueryInput
	items []map[string]types.AttributeValue
	done  bool
}

// head returns the shard's next item without taking it, querying for the
// next page when needed; nil when the shard is exhausted.
func (s *shard) head(ctx context.Context) (map[string]types.AttributeValue, error) {
	for len(s.items) == 0 && !s.done {
		out, err := s.db.Query(ctx, s.in)
		if err != nil {
			return nil, fmt.Errorf("outbox: query %s: %w", aws.ToString(s.in.TableName), err)
		}
		s.items, s.done, s.in.ExclusiveStartKey = out.Items, out.LastEvaluatedKey == nil, out.LastEvaluatedKey
	}
	if len(s.items) == 0 {
		return nil, nil
	}
	return s.items[0], nil
}

// openDay starts reading every shard of day after sort key lower, with the
// first pages fetched in parallel.
func (o *Outbox) openDay(ctx context.Context, day, lower string, page int) ([]*shard, error) {
	shards := make([]*shard, Shards)
	errs := make([]error, Shards)
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = &shard{db: o.db, in: &dynamodb.QueryInput{
			TableName:                aws.String(o.table),
			KeyConditionExpression:   aws.String("pk = :pk AND sk > :after"),
			ProjectionExpression:     aws.String("sk, #event"),
			ExpressionAttributeNames: map[string]string{"#event": "event"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": ddb.S(shardKey(day, i)), ":after": ddb.S(lower),
			},
			ConsistentRead: aws.Bool(true),
			Limit:          aws.Int32(int32(page)),
		}}
		wg.Go(func() { _, errs[i] = shards[i].head(ctx) })
	}
	wg.Wait()
	return shards, errors.Join(errs...)
}

// nextOf takes the item with the lowest sort key among the shards' heads
// and returns its sort key and envelope text; "" when all are exhausted.
func nextOf(ctx context.Context, shards []*shard) (string, string, error) {
	var first *shard
	var firstSK string
	for _, s := range shards {
		it, err := s.head(ctx)
		if err != nil {
			return "", "", err
		}
		if it == nil {
			continue
		}
		sk, _ := it["sk"].(*types.AttributeValueMemberS)
		if sk == nil {
			return "", "", errors.New("outbox: event item without a sort key")
		}
		if first == nil || sk.Value < firstSK {
			first, firstSK = s, sk.Value
		}
	}
	if first == nil {
		return "", "", nil
	}
	body, _ := first.items[0]["event"].(*types.AttributeValueMemberS)
	if body == nil {
		return "", "", fmt.Errorf("outbox: event item %s without its envelope", firstSK)
	}
	first.items = first.items[1:]
	return firstSK, body.Value, nil
}

// Decode returns the envelope in a stream record's NewImage, and false for
// the table's other items (id index, sequence counters), which a
// publisher skips.
func Decode(image map[string]events.DynamoDBAttributeValue) (Envelope, bool, error) {
	pk, body := image["pk"], image["event"]
	if pk.DataType() != events.DataTypeString || !strings.HasPrefix(pk.String(), dayPrefix) {
		return Envelope{}, false, nil
	}
	if body.DataType() != events.DataTypeString {
		return Envelope{}, false, errors.New("outbox: event item without its envelope")
	}
	var e Envelope
	if err := json.Unmarshal([]byte(body.String()), &e); err != nil {
		return Envelope{}, false, fmt.Errorf("outbox: decode envelope: %w", err)
	}
	return e, true, nil
}
