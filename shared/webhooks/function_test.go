package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
	"github.com/citycode/citycode/shared/subscriptions"
)

// samples answers the SQS records of events/webhook-delivery/*.json.
func samples(t *testing.T) map[string]events.SQSMessage {
	t.Helper()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "events", "webhook-delivery", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	out := map[string]events.SQSMessage{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var batch events.SQSEvent
		if err := json.Unmarshal(raw, &batch); err != nil || len(batch.Records) != 1 {
			t.Fatalf("%s: not an SQS event of one record: %v", f, err)
		}
		out[filepath.Base(f)] = batch.Records[0]
	}
	return out
}

// The sample events are the three kinds of message, carrying events whose
// data is valid for their type.
func TestSampleEvents(t *testing.T) {
	t.Parallel()
	got := map[string]string{}
	for name, m := range samples(t) {
		var head bridgeEvent
		if err := json.Unmarshal([]byte(m.Body), &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var e outbox.Envelope
		switch head.Kind {
		case "":
			if err := json.Unmarshal(head.Detail, &e); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if head.DetailType != e.Type {
				t.Errorf("%s: detail-type %q, envelope type %q", name, head.DetailType, e.Type)
			}
		case KindRetry:
			var r Retry
			if err := json.Unmarshal([]byte(m.Body), &r); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			e = r.Event
		case KindReplay:
			var s ReplayStep
			if err := json.Unmarshal([]byte(m.Body), &s); err != nil || s.Position == "" {
				t.Fatalf("%s: %v, position %q", name, err, s.Position)
			}
		}
		if e.ID != "" {
			outboxtest.CheckSchema(t, e)
		}
		got[name] = head.Kind
	}
	if diff := cmp.Diff(map[string]string{"event.json": "", "retry.json": KindRetry, "replay.json": KindReplay}, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestConfigFrom(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DELIVERY_RETRY_QUEUE_URL": "http://q", "SUBSCRIPTIONS_TABLE": "subs", "EVENTS_TABLE": "events"}
	with := func(kv ...string) app.Env {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := ConfigFrom(with())
	if err != nil {
		t.Fatal(err)
	}
	if c.Backoff != (Backoff{Base: 5 * time.Second, Max: 15 * time.Minute}) || c.AllowLoopback || c.Events.Retention != outbox.DefaultRetention {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range [][]string{
		{"DELIVERY_RETRY_QUEUE_URL", ""}, {"SUBSCRIPTIONS_TABLE", ""}, {"EVENTS_TABLE", ""},
		{"DELIVERY_BACKOFF_BASE", "500ms"}, {"DELIVERY_BACKOFF_MAX", "soon"}, {"DELIVERY_BACKOFF_BASE", "1m", "DELIVERY_BACKOFF_MAX", "10s"},
	} {
		if _, err := ConfigFrom(with(bad...)); err == nil {
			t.Errorf("ConfigFrom accepted %v", bad)
		}
	}
}

// TestJobWithTheRealStore runs the function as Lambda would build it, on
// the subscriptions store in DynamoDB Local and a retry queue in moto with
// real SQS delays: the sample event is delivered after one failure, a 410
// disables the subscription, and a retry for it becomes a dead letter the
// agency can list.
func TestJobWithTheRealStore(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	subTable := subscriptionsTable(t, db)
	motoURL := mototest.StartMoto(t)
	q := sqs.NewFromConfig(mototest.Config(motoURL))
	created, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("retries")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(created.QueueUrl)

	sample := samples(t)["event.json"]
	var gone atomic.Value // the id of the event to answer 410 to
	gone.Store("")
	rc := &Receiver{FailFirst: 1}
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderID) == gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		rc.ServeHTTP(w, r)
	}))
	policy, err := subscriptions.LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	store := subscriptions.NewStore(db.Client, subTable, policy)
	sub, err := store.Create(t.Context(), "police-demo", url, []string{"city.holder.enrolled.v1"})
	if err != nil {
		t.Fatal(err)
	}
	rc.Secrets = [][]byte{sub.Secrets[0].Key}

	env := map[string]string{
		"DYNAMODB_ENDPOINT": db.Endpoint, "AWS_REGION": localstack.Region, "SQS_ENDPOINT": motoURL,
		"EVENTS_TABLE": db.Tables["EventsTable"], "SUBSCRIPTIONS_TABLE": subTable, "DELIVERY_RETRY_QUEUE_URL": queueURL,
		"ALLOW_INSECURE_WEBHOOKS": "true", "DELIVERY_BACKOFF_BASE": "1s", "DELIVERY_BACKOFF_MAX": "1s", "LOG_LEVEL": "error",
	}
	job, err := NewJob(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(m events.SQSMessage) {
		t.Helper()
		out, err := job(t.Context(), json.RawMessage(mustJSON(t, events.SQSEvent{Records: []events.SQSMessage{m}})))
		if err != nil {
			t.Fatal(err)
		}
		if resp := out.(events.SQSEventResponse); len(resp.BatchItemFailures) > 0 {
			t.Fatalf("batch item failures: %v", resp.BatchItemFailures)
		}
	}

	// The sample event: refused once, then, from the retry SQS delayed by
	// the backoff (1 s), accepted with a signature of the store's secret.
	invoke(sample)
	if msgs := receive(t, q, queueURL, 0); len(msgs) != 0 {
		t.Fatalf("the retry was visible at once: SQS delay not set")
	}
	msgs := receive(t, q, queueURL, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d retries, want 1", len(msgs))
	}
	invoke(msgs[0])
	got := rc.Received()
	if len(got) != 2 || got[1].Status != http.StatusNoContent || got[1].Verified != nil || got[1].ID != "019ab2c4-5e80-7a3c-9f1e-6d2b8c4a1e07" {
		t.Fatalf("received %+v, want a refusal then the sample event accepted with a valid signature", got)
	}

	// Another event: 410 disables the subscription in the store.
	var e outbox.Envelope
	if err := json.Unmarshal(detail(t, sample), &e); err != nil {
		t.Fatal(err)
	}
	e.ID = "019ab2c4-5e80-7a3c-9f1e-6d2b8c4a1e08"
	gone.Store(e.ID)
	invoke(events.SQSMessage{MessageId: "m-gone", Body: bridgeMessage(t, e)})
	if s, err := store.Get(t.Context(), sub.ID); err != nil || s.Status != subscriptions.StatusDisabled || !strings.Contains(s.DisabledReason, "410") {
		t.Fatalf("after a 410: %+v, %v; want disabled", s, err)
	}

	// A retry for the disabled subscription: a dead letter, listed.
	invoke(events.SQSMessage{MessageId: "m-retry", Body: mustJSON(t, Retry{Kind: KindRetry, SubscriptionID: sub.ID, Attempt: 2, Event: e, FirstAttempt: time.Now()})})
	page, err := store.DeadLetters(t.Context(), sub.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Event.ID != e.ID || page.Items[0].Attempts != 1 || page.Items[0].LastError != "subscription disabled" {
		t.Errorf("dead letters %+v, want the retried event after 1 attempt", page.Items)
	}
}

// detail answers the envelope an EventBridge event message carries.
func detail(t *testing.T, m events.SQSMessage) []byte {
	t.Helper()
	var head bridgeEvent
	if err := json.Unmarshal([]byte(m.Body), &head); err != nil {
		t.Fatal(err)
	}
	return head.Detail
}

// receive answers the messages on the queue within wait, deleting them.
func receive(t *testing.T, q *sqs.Client, url string, wait time.Duration) []events.SQSMessage {
	t.Helper()
	out, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		WaitTimeSeconds: int32(wait / time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []events.SQSMessage
	for _, m := range out.Messages {
		msgs = append(msgs, events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)})
		if _, err := q.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	return msgs
}

// subscriptionsTable answers the test's SubscriptionsTable: the
// template's, or, until the template declares it, one made here with the
// keys of infra/delivery.md.
func subscriptionsTable(t *testing.T, db *dynamotest.Env) string {
	t.Helper()
	if name, ok := db.Tables["SubscriptionsTable"]; ok {
		return name
	}
	name := strings.TrimSuffix(db.Tables["EventsTable"], "EventsTable") + "SubscriptionsTable"
	_, err := db.Client.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.Client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	return name
}
