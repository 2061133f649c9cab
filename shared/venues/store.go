package venues

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/scan"
)

// Sentinel errors of the capability.
var (
	// ErrReplayed: the code was accepted before (another gate, a clone).
	ErrReplayed = errors.New("venues: code used before")
	// ErrCapacityReached: the venue admitted its daily capacity already.
	ErrCapacityReached = errors.New("venues: daily capacity reached")
	// ErrBusy: the day's counter stayed contended past the retry budget.
	ErrBusy          = errors.New("venues: counter busy")
	errCorruptCursor = ddb.ErrCorruptCursor
)

// Retention of the items.
const (
	EntryRetention   = 90 * 24 * time.Hour
	CounterRetention = 400 * 24 * time.Hour
)

// RetryBudget is how long Enter keeps retrying a transaction that
// collided with another on the day's counter: within the function's
// timeout (10 s).
const RetryBudget = 8 * time.Second

// Store keeps venue entries and their day counters in VenuesTable
// (infra/lodging.md).
type Store struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
}

// NewStore returns a Store on table.
func NewStore(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table, now: func() time.Time { return time.Now().UTC() }}
}

// Entry is one admission.
type Entry struct {
	ID       string    `dynamodbav:"entry_id"`
	VenueID  string    `dynamodbav:"venue_id"`
	Date     string    `dynamodbav:"date"`
	At       time.Time `dynamodbav:"at"`
	Gate     string    `dynamodbav:"gate"`
	AgeGroup string    `dynamodbav:"age_group"`
	Issuer   string    `dynamodbav:"issuer"`
	// Remaining is the day's capacity left after this entry (not stored);
	// nil when it could not be read after the entry was recorded.
	Remaining *int `dynamodbav:"-"`
}

// DayCount is a venue's entries on one local day.
type DayCount struct {
	Date     string `dynamodbav:"sk"`
	Entries  int    `dynamodbav:"entries"`
	Capacity int    `dynamodbav:"capacity"`
}

// Page is one page of a listing and the cursor of the next.
type Page[T any] = ddb.Page[T]

func countPK(venue string) string { return "COUNT#" + venue }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "ent_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Enter admits sc's holder at v through gate: the code's acceptance (its
// single-use mark first, then the access-log entry), the day's counter
// raised on the condition that it is below the capacity, and the entry,
// in one transaction. Collisions on the counter are retried with jittered
// backoff for RetryBudget.
func (s *Store) Enter(ctx context.Context, v Venue, sc scan.Scan, gate, ageGroup string) (Entry, error) {
	acc, err := sc.Writes()
	if err != nil {
		return Entry{}, err
	}
	deadline := time.Now().Add(RetryBudget)
	for attempt := 0; ; attempt++ {
		now := s.now()
		e := Entry{ID: newID(), VenueID: v.ID, Date: v.Day(now), At: now, Gate: gate, AgeGroup: ageGroup, Issuer: sc.Issuer}
		it, err := ddb.Item("ENTRY#"+v.ID+"#"+e.Date, now.Format(time.RFC3339Nano)+"#"+e.ID, e)
		if err != nil {
			return Entry{}, fmt.Errorf("venues: entry: %w", err)
		}
		it["expires_at"] = ddb.N(now.Add(EntryRetention).Unix())
		counter := len(acc)
		writes := append(append([]types.TransactWriteItem{}, acc...),
			types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(s.table), Key: ddb.Key(countPK(v.ID), e.Date),
				UpdateExpression:          aws.String("ADD entries :one SET #cap = :cap, expires_at = :exp"),
				ConditionExpression:       aws.String("attribute_not_exists(entries) OR entries < :cap"),
				ExpressionAttributeNames:  map[string]string{"#cap": "capacity"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": ddb.N(1), ":cap": ddb.N(int64(v.DailyCapacity)), ":exp": ddb.N(now.Add(CounterRetention).Unix())},
			}},
			ddb.PutNew(s.table, it),
		)
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		if err == nil {
			// The entry is recorded: a failed read of what is left only
			// leaves that out of the answer, never turns an admission into
			// an error the gate would act on.
			if left, err := s.remaining(ctx, v, e.Date); err == nil {
				e.Remaining = &left
			}
			return e, nil
		}
		if err := refusal(err, counter); err != nil {
			return Entry{}, err
		}
		if time.Now().After(deadline) {
			return Entry{}, ErrBusy
		}
		wait := time.Duration(mrand.Int64N(int64(min(200*time.Millisecond, time.Millisecond<<min(attempt, 8))) + 1))
		if err := awsclient.Sleep(ctx, wait); err != nil {
			return Entry{}, err
		}
	}
}

// refusal maps a failed entry transaction whose counter update is item
// counter: the use mark (item 0) failed, a replay; the counter's
// condition, the capacity; nil when it only collided with another
// transaction (TransactionConflict) and is worth retrying.
func refusal(err error, counter int) error {
	failed := ddb.Cancelled(err)
	switch {
	case failed == nil:
		return fmt.Errorf("venues: enter: %w", err)
	case failed[0]:
		return ErrReplayed
	case failed[counter]:
		return ErrCapacityReached
	case !ddb.IsConflict(err):
		return fmt.Errorf("venues: enter: %w", err)
	}
	return nil
}

// remaining reads what is left of v's capacity on date.
func (s *Store) remaining(ctx context.Context, v Venue, date string) (int, error) {
	var c DayCount
	if _, err := ddb.Get(ctx, s.db, s.table, countPK(v.ID), date, &c); err != nil {
		return 0, fmt.Errorf("venues: read counter: %w", err)
	}
	return max(0, v.DailyCapacity-c.Entries), nil
}

// Counts pages through venue's day counters from from to to (dates,
// inclusive), oldest first. Days without entries have no counter.
func (s *Store) Counts(ctx context.Context, venue, from, to string, limit int, cursor string) (Page[DayCount], error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(countPK(venue)), ":from": ddb.S(from), ":to": ddb.S(to)},
		Limit:                     aws.Int32(int32(limit)),
	}
	start, err := ddb.StartKey(countPK(venue), cursor, func(sk string) bool {
		_, err := time.Parse(time.DateOnly, sk)
		return err == nil
	})
	if err != nil {
		return Page[DayCount]{}, err
	}
	in.ExclusiveStartKey = start
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return Page[DayCount]{}, fmt.Errorf("venues: query counts: %w", err)
	}
	page := Page[DayCount]{Items: make([]DayCount, 0, len(out.Items)), NextCursor: ddb.Cursor(out.LastEvaluatedKey)}
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &page.Items); err != nil {
		return Page[DayCount]{}, fmt.Errorf("venues: unmarshal counts: %w", err)
	}
	return page, nil
}
