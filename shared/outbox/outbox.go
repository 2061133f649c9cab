// Package outbox is the one way a function publishes events: it writes a
// state change's events in the same DynamoDB transaction as the change
// itself (the transactional outbox), into EventsTable, whose stream feeds
// the event publisher. Events are CloudEvents 1.0 JSON envelopes with a
// gap-free sequence per subject; EventsTable keeps them for a retention
// window, within which Since replays them in order. See infra/events.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
)

// Envelope attributes every event carries.
const (
	SpecVersion = "1.0"
	ContentType = "application/json"
)

// Event is one event as a capability states it; Writes turns it into an
// Envelope.
type Event struct {
	// Type is versioned: city.holder.enrolled.v1.
	Type string
	// Source is the producing capability, a URI reference: /citycode/holders.
	Source string
	// Subject is what the event is about (a holder id); sequences count per
	// subject.
	Subject string
	// Time is when it happened; zero means when it is written.
	Time time.Time
	// Data is the payload, marshalled to JSON; it must match the type's
	// schema in infra/events.
	Data any
}

// Envelope is a CloudEvents 1.0 event in its JSON format, with the
// sequence extension attribute.
type Envelope struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// Sequence is the event's place among its subject's events: 1, 2, 3…
	// in decimal, zero-padded to 20 digits so that, as the CloudEvents
	// sequence extension requires, string order is numeric order.
	Sequence string          `json:"sequence"`
	Data     json.RawMessage `json:"data"`
}

// SequenceNumber is e.Sequence as a number.
func (e Envelope) SequenceNumber() (uint64, error) {
	return strconv.ParseUint(e.Sequence, 10, 64)
}

func formatSequence(n uint64) string { return fmt.Sprintf("%020d", n) }

// Config is the outbox's configuration, the same in every function that
// writes events.
type Config struct {
	Table     string        // EVENTS_TABLE
	Retention time.Duration // EVENT_RETENTION, default 720h (30 days)
}

// DefaultRetention is how long events stay replayable unless
// EVENT_RETENTION says otherwise.
const DefaultRetention = 30 * 24 * time.Hour

// ConfigFrom reads EVENTS_TABLE and EVENT_RETENTION from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{Table: env("EVENTS_TABLE")}
	if c.Table == "" {
		return Config{}, errors.New("EVENTS_TABLE must be set")
	}
	r, err := time.ParseDuration(env.Lookup("EVENT_RETENTION", DefaultRetention.String()))
	if err != nil || r < time.Hour || r > 365*24*time.Hour {
		return Config{}, errors.New("EVENT_RETENTION must be a duration from 1h to 8760h")
	}
	c.Retention = r
	return c, nil
}

// Outbox writes events into, and replays them from, one events table.
type Outbox struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
	now       func() time.Time
}

// New returns an Outbox on table whose events expire after retention.
func New(db *dynamodb.Client, table string, retention time.Duration) *Outbox {
	return &Outbox{db: db, table: table, retention: retention, now: time.Now}
}

// Item keys of EventsTable (infra/events/README.md).
const (
	dayPrefix   = "DAY#"
	eventPrefix = "EVENT#"
	seqPrefix   = "SEQ#"
	skEvent     = "EVENT"
	skSeq       = "SEQ"
	// positionLayout is a fixed-width UTC time, so that sort keys and
	// positions compare as strings in time order.
	positionLayout = "2006-01-02T15:04:05.000000000Z"
)

// Shards is how many partitions one day's events are spread over, by
// subject, so that writes stay within DynamoDB's throughput per partition
// key (about 1000 write units a second, and a transactional write costs
// two); replay merges them back into one order. It may grow, never shrink:
// replay reads shards 0 to Shards-1 of every day.
const Shards = 16

// dayKey is the partition of subject's events recorded on day.
func dayKey(day, subject string) string {
	h := fnv.New32a()
	h.Write([]byte(subject))
	return shardKey(day, int(h.Sum32()%Shards))
}

func shardKey(day string, shard int) string { return fmt.Sprintf("%s%s#%02d", dayPrefix, day, shard) }

func num(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// Writes returns the transaction items that write events: for each event
// its envelope and its id index, then for each subject a conditional
// update of its sequence counter. The caller appends them, at the end, to
// the TransactWriteItems of the state change they describe, so that the
// change and its events are written together or not at all. If another
// writer took one of the sequence numbers first, the transaction is
// cancelled: see Retryable.
func (o *Outbox) Writes(ctx context.Context, events ...Event) ([]types.TransactWriteItem, error) {
	var subjects []string
	for _, e := range events {
		if e.Type == "" || e.Source == "" || e.Subject == "" {
			return nil, fmt.Errorf("outbox: event %q needs a type, a source and a subject", e.Type)
		}
		subjects = append(subjects, e.Subject)
	}
	prev, err := o.sequences(ctx, subjects)
	if err != nil {
		return nil, err
	}
	// The recorded time is taken after the counters are read, so that a
	// subject's later sequence numbers are never recorded earlier.
	now := o.now().UTC()
	expires := num(uint64(now.Add(o.retention).Unix()))
	next := maps.Clone(prev)
	var writes []types.TransactWriteItem
	for _, e := range events {
		next[e.Subject]++
		env, err := envelope(e, now, next[e.Subject])
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(env)
		if err != nil {
			return nil, fmt.Errorf("outbox: marshal %s: %w", e.Type, err)
		}
		pos := now.Format(positionLayout) + "#" + env.ID
		writes = append(writes,
			types.TransactWriteItem{Put: &types.Put{TableName: aws.String(o.table), Item: map[string]types.AttributeValue{
				"pk": ddb.S(dayKey(pos[:10], e.Subject)), "sk": ddb.S(pos), "event": ddb.S(string(body)),
				"type": ddb.S(e.Type), "subject": ddb.S(e.Subject), "sequence": num(next[e.Subject]), "expires_at": expires,
			}}},
			types.TransactWriteItem{Put: &types.Put{TableName: aws.String(o.table), Item: map[string]types.AttributeValue{
				"pk": ddb.S(eventPrefix + env.ID), "sk": ddb.S(skEvent), "position": ddb.S(pos), "expires_at": expires,
			}}},
		)
	}
	for _, s := range dedupe(subjects) {
		u := &types.Update{
			TableName: aws.String(o.table), Key: ddb.Key(seqPrefix+s, skSeq),
			UpdateExpression:          aws.String("SET seq = :next"),
			ConditionExpression:       aws.String("seq = :prev"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":next": num(next[s]), ":prev": num(prev[s])},
		}
		if prev[s] == 0 {
			u.ConditionExpression = aws.String("attribute_not_exists(pk)")
			delete(u.ExpressionAttributeValues, ":prev")
		}
		writes = append(writes, types.TransactWriteItem{Update: u})
	}
	return writes, nil
}

func envelope(e Event, now time.Time, seq uint64) (Envelope, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, fmt.Errorf("outbox: event id: %w", err)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return Envelope{}, fmt.Errorf("outbox: marshal %s data: %w", e.Type, err)
	}
	at := e.Time
	if at.IsZero() {
		at = now
	}
	return Envelope{SpecVersion: SpecVersion, ID: id.String(), Source: e.Source, Type: e.Type, Subject: e.Subject,
		Time: at.UTC(), DataContentType: ContentType, Sequence: formatSequence(seq), Data: data}, nil
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// sequences reads the current counter of each subject (0 for a subject
// without events) in one consistent BatchGetItem (BatchGetAll).
func (o *Outbox) sequences(ctx context.Context, subjects []string) (map[string]uint64, error) {
	seqs := map[string]uint64{}
	keys := make([]map[string]types.AttributeValue, 0, len(subjects))
	for _, s := range dedupe(subjects) {
		keys = append(keys, ddb.Key(seqPrefix+s, skSeq))
	}
	if len(keys) == 0 {
		return seqs, nil
	}
	items, err := awsclient.BatchGetAll(ctx, o.db, o.table, keys)
	if err != nil {
		return nil, fmt.Errorf("outbox: read sequences: %w", err)
	}
	for _, it := range items {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		n, _ := it["seq"].(*types.AttributeValueMemberN)
		if pk == nil || n == nil {
			return nil, errors.New("outbox: malformed sequence counter")
		}
		v, err := strconv.ParseUint(n.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("outbox: sequence counter %s: %w", pk.Value, err)
		}
		seqs[pk.Value[len(seqPrefix):]] = v
	}
	return seqs, nil
}

// maxAttempts bounds Transact's retries: under contention on one subject
// each round lets one writer through.
const maxAttempts = 30

// Transact writes writes and, after them, events, in one
// TransactWriteItems. When the transaction is cancelled in a way Retryable
// allows, it builds the event writes again (fresh sequence numbers) and
// retries, with jittered waits, up to 30 times. It returns the last error:
// the caller maps the cancellation reasons of its own writes by their
// index, which the events, being last, do not shift.
func (o *Outbox) Transact(ctx context.Context, writes []types.TransactWriteItem, events ...Event) error {
	for attempt := 1; ; attempt++ {
		ev, err := o.Writes(ctx, events...)
		if err != nil {
			return err
		}
		_, err = o.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems: append(slices.Clip(writes), ev...),
		})
		if err == nil || attempt == maxAttempts || !Retryable(err, len(writes)) {
			return err
		}
		if err := awsclient.Sleep(ctx, time.Millisecond+rand.N(time.Duration(min(attempt, 10))*5*time.Millisecond)); err != nil {
			return err
		}
	}
}

// Retryable reports whether err cancelled a transaction that is worth
// building again (with fresh Writes) and retrying: the outbox's items,
// which start at index first, failed their condition because another
// writer advanced a subject's sequence, or some item was held by a
// concurrent transaction; and none of the caller's own items (before
// first) failed its condition, which is the caller's to map.
func Retryable(err error, first int) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	retry := false
	for i, r := range tce.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "ConditionalCheckFailed":
			if i < first {
				return false
			}
			retry = true
		case "TransactionConflict":
			retry = true
		}
	}
	return retry
}
