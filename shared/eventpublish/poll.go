package eventpublish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/citycode/citycode/shared/app"
)

// What PollStream does in place of the event source mapping's settings in
// template.yaml.
const (
	pollBatchSize  = 100                    // BatchSize
	pollRetries    = 10                     // MaximumRetryAttempts
	pollIdle       = 200 * time.Millisecond // wait when no shard has records
	pollRetryFirst = 500 * time.Millisecond // wait before a failed batch's first retry
	pollRetryMax   = 30 * time.Second       // longest wait between retries
)

// PollStream is the local stand-in for Lambda's DynamoDB event source
// mapping (DynamoDB Local has no Lambda to trigger): it reads every shard
// of the stream at streamARN from TRIM_HORIZON, parents before children,
// and calls handle with batches of up to 100 records as a JSON
// events.DynamoDBEvent, the way Lambda invokes a stream-triggered job. It
// honours the answer like Lambda with ReportBatchItemFailures: a function
// error, or an answer naming no record of the batch, fails the whole
// batch; otherwise the shard continues from the lowest sequence number the
// answer names (records before it are done). A failing batch is retried
// with backoff up to 10 times, then skipped with an error log (where AWS
// would send its description to the on-failure destination). It does not
// apply the event source's filter: the handler sees every record.
//
// It runs until ctx is done, when it returns nil, or until the stream
// cannot be read. It keeps no checkpoint: started again, it reads the
// stream from its start, so what was handled before comes again, which
// receivers deduplicate as they must in AWS too. The stream's ARN is the
// table's LatestStreamArn (DescribeTable).
func PollStream(ctx context.Context, streams *dynamodbstreams.Client, streamARN string, handle app.JobHandler, log *slog.Logger) error {
	p := &poller{streams: streams, arn: streamARN, handle: handle, log: log, retryFirst: pollRetryFirst, shards: map[string]*streamShard{}}
	return p.run(ctx)
}

type poller struct {
	streams *dynamodbstreams.Client
	arn     string
	handle  app.JobHandler
	log     *slog.Logger
	// retryFirst is the wait before a failed batch's first retry, doubled
	// for each next up to pollRetryMax.
	retryFirst time.Duration
	shards     map[string]*streamShard
	order      []string // shard ids as DescribeStream listed them
}

func (p *poller) run(ctx context.Context) error {
	for {
		busy, err := p.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if !busy {
			if sleep(ctx, pollIdle) != nil {
				return nil
			}
		}
	}
}

// streamShard is where reading one shard has got to.
type streamShard struct {
	id, parent string
	// after is the sequence number of the last record handled; "" for
	// none yet, when reading starts at TRIM_HORIZON.
	after string
	// iterator reads on from after; nil when a new one must be asked for.
	iterator *string
	// retries counts the failed invocations of the batch after after.
	retries int
	done    bool
}

// round discovers new shards, then reads one batch from every shard that
// is open and whose parent is done; busy reports whether any had records.
func (p *poller) round(ctx context.Context) (busy bool, err error) {
	if err := p.discover(ctx); err != nil {
		return false, err
	}
	for _, id := range p.order {
		s := p.shards[id]
		if parent, ok := p.shards[s.parent]; s.done || (ok && !parent.done) {
			continue
		}
		n, err := p.poll(ctx, s)
		if err != nil {
			return busy, err
		}
		busy = busy || n > 0
	}
	return busy, nil
}

// discover adds the stream's shards not seen yet.
func (p *poller) discover(ctx context.Context) error {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(p.arn)}
	for {
		out, err := p.streams.DescribeStream(ctx, in)
		if err != nil {
			return fmt.Errorf("eventpublish: describe stream: %w", err)
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			if _, ok := p.shards[id]; !ok {
				p.shards[id] = &streamShard{id: id, parent: aws.ToString(sh.ParentShardId)}
				p.order = append(p.order, id)
			}
		}
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

// poll reads the shard's next batch and hands it to the handler; it
// answers how many records the batch held.
func (p *poller) poll(ctx context.Context, s *streamShard) (int, error) {
	if s.iterator == nil {
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(p.arn), ShardId: aws.String(s.id),
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
		if s.after != "" {
			in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(s.after)
		}
		out, err := p.streams.GetShardIterator(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("eventpublish: shard iterator of %s: %w", s.id, err)
		}
		if s.iterator = out.ShardIterator; s.iterator == nil {
			s.done = true
			return 0, nil
		}
	}
	out, err := p.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: s.iterator, Limit: aws.Int32(pollBatchSize)})
	var expired *types.ExpiredIteratorException
	switch {
	case errors.As(err, &expired):
		s.iterator = nil
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("eventpublish: read shard %s: %w", s.id, err)
	}
	next := func() {
		s.after, s.retries = seqOf(out.Records[len(out.Records)-1]), 0
		s.iterator, s.done = out.NextShardIterator, out.NextShardIterator == nil
	}
	if len(out.Records) == 0 {
		s.iterator, s.done = out.NextShardIterator, out.NextShardIterator == nil
		return 0, nil
	}
	handled, err := p.invoke(ctx, out.Records)
	switch {
	case err == nil && handled == len(out.Records):
		next()
		return len(out.Records), nil
	case handled > 0:
		s.after, s.retries = seqOf(out.Records[handled-1]), 0
	}
	s.iterator = nil // read again from after
	if s.retries++; s.retries > pollRetries {
		p.log.Error("stream batch skipped after its retries (in AWS: the on-failure destination)", "shard", s.id,
			"first_sequence_number", seqOf(out.Records[handled]), "error", err)
		next()
		return len(out.Records), nil
	}
	p.log.Warn("stream batch failed; retrying", "shard", s.id, "attempt", s.retries, "handled", handled, "of", len(out.Records), "error", err)
	return len(out.Records), sleep(ctx, min(p.retryFirst<<(s.retries-1), pollRetryMax))
}

// invoke calls the handler with records and answers how many of them, from
// the first, are done.
func (p *poller) invoke(ctx context.Context, records []types.Record) (int, error) {
	batch := events.DynamoDBEvent{}
	for _, r := range records {
		batch.Records = append(batch.Records, lambdaRecord(r, p.arn))
	}
	raw, err := json.Marshal(batch)
	if err != nil {
		return 0, fmt.Errorf("eventpublish: marshal stream batch: %w", err)
	}
	answer, err := p.handle(ctx, raw)
	if err != nil {
		return 0, fmt.Errorf("function error: %w", err)
	}
	raw, err = json.Marshal(answer)
	if err != nil {
		return 0, fmt.Errorf("eventpublish: marshal answer: %w", err)
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return 0, fmt.Errorf("answer is not a batch item failures report: %w", err)
	}
	handled := len(records)
	for _, f := range resp.BatchItemFailures {
		i := 0
		for i < len(records) && seqOf(records[i]) != f.ItemIdentifier {
			i++
		}
		if i == len(records) {
			return 0, fmt.Errorf("batch item failure %q names no record of the batch", f.ItemIdentifier)
		}
		handled = min(handled, i)
	}
	if handled < len(records) {
		return handled, fmt.Errorf("batch item failure at %s", seqOf(records[handled]))
	}
	return handled, nil
}

func seqOf(r types.Record) string {
	if r.Dynamodb == nil {
		return ""
	}
	return aws.ToString(r.Dynamodb.SequenceNumber)
}

// lambdaRecord is r as Lambda passes it to a function.
func lambdaRecord(r types.Record, streamARN string) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		AWSRegion: aws.ToString(r.AwsRegion), EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
		EventSource: aws.ToString(r.EventSource), EventVersion: aws.ToString(r.EventVersion), EventSourceArn: streamARN,
	}
	if d := r.Dynamodb; d != nil {
		out.Change = events.DynamoDBStreamRecord{
			Keys: image(d.Keys), NewImage: image(d.NewImage), OldImage: image(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber), SizeBytes: aws.ToInt64(d.SizeBytes), StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
	}
	return out
}

func image(m map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = attribute(v)
	}
	return out
}

func attribute(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = attribute(e)
		}
		return events.NewListAttribute(l)
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(image(v.Value))
	default: // *types.AttributeValueMemberNULL
		return events.NewNullAttribute()
	}
}
