// Package eventpublish is the event publisher: it forwards the events the
// outbox (shared/outbox) writes into EventsTable, as its stream delivers
// them, to the city's EventBridge bus, from which agencies' subscriptions
// are served (infra/delivery.md).
//
// # Delivery: at least once, never lost, maybe twice
//
// An event is in EventsTable before anyone can publish it (it is written in
// the transaction of its state change), and a stream record is passed over
// only once PutEvents has accepted its event or it is reported failed and
// retried. So nothing is lost; but an event can be published twice: when
// PutEvents accepted a batch and the invocation then timed out or crashed,
// the whole batch comes again; and when one record of a batch fails, Lambda
// redelivers it and every record after it, including those already
// published. EventBridge itself delivers to its targets at least once.
// Receivers therefore deduplicate on the envelope's id (the webhook-id of
// a webhook), and order by its per-subject sequence.
//
// # Failures
//
// PutEvents takes at most 10 entries and 256 KiB a call. Entries it refuses
// (FailedEntryCount, an ErrorCode per entry), and whole calls that fail, are
// retried a few times with backoff. What still fails is reported as the
// batch item failure of the EARLIEST failed record: for a stream, Lambda
// retries from the lowest reported sequence number onward, so reporting a
// later one would skip the earlier; and the records after the first failure
// are not sent in this invocation at all, as they come again anyway. After
// MaximumRetryAttempts Lambda gives up on the batch and sends its
// description to PublisherDLQ, which raises an alarm; the events themselves
// stay in EventsTable, from where a replay (outbox.Since) serves them.
//
// A record that can never be published — its image cannot be decoded, or
// its event exceeds PutEvents' size limit — is logged at error level and
// skipped, so that it does not hold its shard back until the stream's
// retention ends; it stays in EventsTable for replay. Records that are not
// events (the id index and sequence counter items, deletions) are skipped
// silently; the event source's filter keeps most of them away already.
package eventpublish

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/outbox"
)

// Limits of PutEvents.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 * 1024
)

// EventBridge is the part of the EventBridge API the publisher calls;
// *eventbridge.Client implements it.
type EventBridge interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher forwards batches of EventsTable's stream records to a bus.
type Publisher struct {
	eb  EventBridge
	bus string
	log *slog.Logger
	// retries is how many times a batch's failed entries are sent again;
	// backoff is the wait before the first retry, doubled for each next.
	retries int
	backoff time.Duration
}

// New returns a Publisher that puts events on the bus named bus.
func New(eb EventBridge, bus string, log *slog.Logger) *Publisher {
	return &Publisher{eb: eb, bus: bus, log: log, retries: 3, backoff: 100 * time.Millisecond}
}

// pending is one event to publish and the stream record it came from.
type pending struct {
	seq   string // the record's sequence number
	id    string // the event id
	entry types.PutEventsRequestEntry
	size  int
}

// Publish puts the events of the batch's INSERT records on the bus, in
// record order, and answers which record Lambda must deliver again (and
// all after it): none when every event was accepted.
func (p *Publisher) Publish(ctx context.Context, batch events.DynamoDBEvent) events.DynamoDBEventResponse {
	todo := p.entries(batch.Records)
	for len(todo) > 0 {
		n, size := 0, 0
		for n < len(todo) && n < MaxBatchEntries && size+todo[n].size <= MaxBatchBytes {
			size += todo[n].size
			n++
		}
		if seq, ok := p.put(ctx, todo[:n]); !ok {
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}}
		}
		todo = todo[n:]
	}
	return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
}

// entries turns the records into PutEvents entries, skipping what is not an
// event and, loudly, what can never be published.
func (p *Publisher) entries(records []events.DynamoDBEventRecord) []pending {
	var out []pending
	for _, r := range records {
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		seq := r.Change.SequenceNumber
		e, ok, err := outbox.Decode(r.Change.NewImage)
		if err != nil {
			p.log.Error("corrupt outbox record skipped: it stays in EventsTable, replay it from there once repaired",
				"sequence_number", seq, "keys", keys(r.Change.Keys), "error", err)
			continue
		}
		if !ok {
			continue
		}
		detail, err := json.Marshal(e)
		if err != nil {
			p.log.Error("unpublishable outbox event skipped: it stays in EventsTable for replay",
				"sequence_number", seq, "event_id", e.ID, "error", err)
			continue
		}
		entry := types.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus),
			Source:       aws.String(e.Source),
			DetailType:   aws.String(e.Type),
			Detail:       aws.String(string(detail)),
			Time:         aws.Time(e.Time),
		}
		// PutEvents counts 14 bytes for Time, and the UTF-8 bytes of
		// Source, DetailType and Detail.
		size := 14 + len(e.Source) + len(e.Type) + len(detail)
		if size > MaxBatchBytes {
			p.log.Error("outbox event larger than PutEvents allows skipped: it stays in EventsTable for replay",
				"sequence_number", seq, "event_id", e.ID, "type", e.Type, "bytes", size)
			continue
		}
		out = append(out, pending{seq: seq, id: e.ID, entry: entry, size: size})
	}
	return out
}

// put publishes one PutEvents batch, sending the entries that fail again
// after a backoff, and answers false with the sequence number of the
// earliest record still failing when the retries are spent or ctx ends.
func (p *Publisher) put(ctx context.Context, batch []pending) (string, bool) {
	todo := batch
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, p.backoff<<(attempt-1)); err != nil {
				p.log.Warn("publishing stopped", "error", err, "unsent", len(todo))
				return todo[0].seq, false
			}
		}
		in := &eventbridge.PutEventsInput{}
		for _, t := range todo {
			in.Entries = append(in.Entries, t.entry)
		}
		out, err := p.eb.PutEvents(ctx, in)
		var failed []pending
		switch {
		case err != nil:
			p.log.Warn("PutEvents failed", "attempt", attempt+1, "entries", len(todo), "error", err)
			failed = todo
		case len(out.Entries) != len(todo):
			p.log.Warn("PutEvents answered for the wrong number of entries", "attempt", attempt+1, "sent", len(todo), "answered", len(out.Entries))
			failed = todo
		default:
			for i, r := range out.Entries {
				if aws.ToString(r.ErrorCode) != "" {
					p.log.Warn("PutEvents refused an event", "attempt", attempt+1, "event_id", todo[i].id,
						"sequence_number", todo[i].seq, "code", aws.ToString(r.ErrorCode), "message", aws.ToString(r.ErrorMessage))
					failed = append(failed, todo[i])
				}
			}
		}
		if len(failed) == 0 {
			return "", true
		}
		if todo = failed; attempt == p.retries {
			p.log.Error("events not published; Lambda delivers the stream again from the first of them",
				"failed", len(todo), "first_event_id", todo[0].id, "sequence_number", todo[0].seq)
			return todo[0].seq, false
		}
	}
}

// sleep waits between d/2 and d (jitter spreads the retries of concurrent
// shards), or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	return awsclient.Sleep(ctx, d/2+rand.N(d/2+1))
}

// keys renders a record's key attributes for a log line.
func keys(k map[string]events.DynamoDBAttributeValue) map[string]string {
	out := make(map[string]string, len(k))
	for name, v := range k {
		if v.DataType() == events.DataTypeString {
			out[name] = v.String()
		}
	}
	return out
}
