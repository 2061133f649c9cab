package eventpublish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// bus is a moto EventBridge bus with a rule that sends every citycode event
// to an SQS queue, as the delivery queue's rule does in template.yaml.
type bus struct {
	name, endpoint string
	eb             *eventbridge.Client
	sqs            *sqs.Client
	queue          string
}

func newBus(t *testing.T) *bus {
	t.Helper()
	endpoint := mototest.StartMoto(t)
	cfg := mototest.Config(endpoint)
	b := &bus{name: "citycode-events", endpoint: endpoint, eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	ctx := t.Context()
	if _, err := b.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(b.name)}); err != nil {
		t.Fatal(err)
	}
	q, err := b.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("delivery")})
	if err != nil {
		t.Fatal(err)
	}
	b.queue = aws.ToString(q.QueueUrl)
	attrs, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String("to-delivery"), EventBusName: aws.String(b.name),
		EventPattern: aws.String(`{"source": [{"prefix": "/citycode/"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String("to-delivery"), EventBusName: aws.String(b.name),
		Targets: []ebtypes.Target{{Id: aws.String("delivery"), Arn: aws.String(attrs.Attributes["QueueArn"])}},
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// delivered is an EventBridge event as the rule's SQS target receives it.
type delivered struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Detail     outbox.Envelope `json:"detail"`
}

// drain receives every message on the queue, waiting up to 10 s
// for the first want of them and then for a quiet second, so that a
// duplicate arriving late is seen too.
func (b *bus) drain(t *testing.T, want int) []delivered {
	t.Helper()
	var got []delivered
	deadline := time.Now().Add(10 * time.Second)
	for quiet := false; !quiet && time.Now().Before(deadline); {
		out, err := b.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(b.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			VisibilityTimeout: 600, // received once and for all: never again in this test
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && len(got) >= want {
			quiet = true
		}
		for _, m := range out.Messages {
			var d delivered
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d); err != nil {
				t.Fatalf("message %s: %v", aws.ToString(m.Body), err)
			}
			got = append(got, d)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Detail.ID < got[j].Detail.ID })
	return got
}

// table is a test's EventsTable in DynamoDB Local, its outbox and its
// stream.
type table struct {
	db      *dynamotest.Env
	outbox  *outbox.Outbox
	streams *dynamodbstreams.Client
	arn     string
}

func newTable(t *testing.T) *table {
	t.Helper()
	db := dynamotest.New(t)
	name := db.Tables["EventsTable"]
	env := func(k string) string { return map[string]string{"DYNAMODB_ENDPOINT": db.Endpoint}[k] }
	cfg, err := awsclient.Config(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := db.Client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return &table{
		db:      db,
		outbox:  outbox.New(db.Client, name, outbox.DefaultRetention),
		streams: dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(db.Endpoint) }),
		arn:     aws.ToString(desc.Table.LatestStreamArn),
	}
}

// write records events, each in its own transaction as a capability
// would, and answers every event of the table in recorded order.
func (tb *table) write(t *testing.T, evs ...outbox.Event) []outbox.Envelope {
	t.Helper()
	for _, e := range evs {
		if err := tb.outbox.Transact(t.Context(), nil, e); err != nil {
			t.Fatal(err)
		}
	}
	return outboxtest.Recorded(t, tb.db.Client, tb.db.Tables["EventsTable"])
}

// records reads the whole stream as Lambda would deliver it.
func (tb *table) records(t *testing.T) []events.DynamoDBEventRecord {
	t.Helper()
	ctx := t.Context()
	desc, err := tb.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(tb.arn)})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.DynamoDBEventRecord
	for _, sh := range desc.StreamDescription.Shards {
		it, err := tb.streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(tb.arn), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			got, err := tb.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Records) == 0 {
				break
			}
			for _, r := range got.Records {
				out = append(out, lambdaRecord(r, tb.arn))
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

func ids(envs []outbox.Envelope) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.ID)
	}
	sort.Strings(out)
	return out
}

func deliveredIDs(ds []delivered) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Detail.ID)
	}
	sort.Strings(out)
	return out
}

func holderEvent(subject string, n int) outbox.Event {
	return outbox.Event{
		Type: "city.holder.enrolled.v1", Source: "/citycode/holders", Subject: subject,
		Time: time.Date(2026, 11, 22, 8, 0, n, 0, time.UTC),
		Data: map[string]any{"holder_id": subject, "kind": "resident", "n": n},
	}
}

// logBuffer is a JSON logger's output, safe to read while it is written.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines answers the logged records at level.
func (l *logBuffer) lines(t *testing.T, level string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		if m["level"] == level {
			out = append(out, m)
		}
	}
	return out
}

func newLog() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewJSONHandler(lb, nil)), lb
}

// failing wraps a real EventBridge client and makes moto refuse chosen
// events: it spoils their Detail (moto answers the entry with
// MalformedDetail, as EventBridge does) while fail(event id, attempt)
// says so, attempt counting that event's calls from 1.
type failing struct {
	EventBridge
	fail func(id string, attempt int) bool

	mu       sync.Mutex
	attempts map[string]int
	calls    []int // entries per call
}

func (f *failing) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts = map[string]int{}
	}
	f.calls = append(f.calls, len(in.Entries))
	spoiled := *in
	spoiled.Entries = nil
	for _, e := range in.Entries {
		var env outbox.Envelope
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &env); err != nil {
			f.mu.Unlock()
			return nil, fmt.Errorf("test: entry is not an envelope: %w", err)
		}
		f.attempts[env.ID]++
		if f.fail != nil && f.fail(env.ID, f.attempts[env.ID]) {
			e.Detail = aws.String("{not json")
		}
		spoiled.Entries = append(spoiled.Entries, e)
	}
	f.mu.Unlock()
	return f.EventBridge.PutEvents(ctx, &spoiled, opts...)
}
