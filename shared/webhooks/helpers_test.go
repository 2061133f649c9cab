package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/subscriptions"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeSubscriptions keeps subscriptions in memory, as the store's contract
// says (infra/delivery.md).
type fakeSubscriptions struct {
	mu       sync.Mutex
	subs     map[string]subscriptions.Subscription
	dead     []deadLetter
	matching int // calls to Matching
}

type deadLetter struct {
	Subscription string
	EventID      string
	Attempts     int
	LastStatus   int
	LastError    string
}

func newFakeSubscriptions(subs ...subscriptions.Subscription) *fakeSubscriptions {
	f := &fakeSubscriptions{subs: map[string]subscriptions.Subscription{}}
	for _, s := range subs {
		f.subs[s.ID] = s
	}
	return f
}

func (f *fakeSubscriptions) Matching(_ context.Context, eventType string) ([]subscriptions.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.matching++
	var out []subscriptions.Subscription
	for _, s := range f.subs {
		if s.Status == subscriptions.StatusActive && s.Wants(eventType) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeSubscriptions) Get(_ context.Context, id string) (subscriptions.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok {
		return subscriptions.Subscription{}, subscriptions.ErrNotFound
	}
	return s, nil
}

func (f *fakeSubscriptions) Disable(_ context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok {
		return subscriptions.ErrNotFound
	}
	s.Status, s.DisabledReason = subscriptions.StatusDisabled, reason
	f.subs[id] = s
	return nil
}

func (f *fakeSubscriptions) AddDeadLetter(_ context.Context, id string, e outbox.Envelope, attempts, lastStatus int, lastErr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, deadLetter{id, e.ID, attempts, lastStatus, lastErr})
	return nil
}

func (f *fakeSubscriptions) deadLetters() []deadLetter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deadLetter(nil), f.dead...)
}

// retryQueue is a queue of the test's own moto_server; messages are sent
// without delay, the test moving its clock to each one's NotBefore instead.
type retryQueue struct {
	client *sqs.Client
	url    string
}

func newRetryQueue(t *testing.T) retryQueue {
	t.Helper()
	client := sqs.NewFromConfig(mototest.Config(mototest.StartMoto(t)))
	out, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("retries")})
	if err != nil {
		t.Fatal(err)
	}
	return retryQueue{client: client, url: aws.ToString(out.QueueUrl)}
}

func (q retryQueue) queue() *Queue { return NewQueue(q.client, q.url, 0) }

// drain receives and deletes every message on the queue.
func (q retryQueue) drain(t *testing.T) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := q.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := q.client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// handle runs d on a batch of message bodies and fails t on any batch
// item failure.
func handle(t *testing.T, d *Deliverer, bodies ...string) {
	t.Helper()
	if resp := d.Handle(t.Context(), sqsBatch(bodies...)); len(resp.BatchItemFailures) > 0 {
		t.Fatalf("batch item failures: %v", resp.BatchItemFailures)
	}
}

func sqsBatch(bodies ...string) events.SQSEvent {
	var batch events.SQSEvent
	for i, b := range bodies {
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: "m" + strconv.Itoa(i), Body: b})
	}
	return batch
}

// bridgeMessage is e as the EventBridge rule's SQS target receives it.
func bridgeMessage(t *testing.T, e outbox.Envelope) string {
	t.Helper()
	return mustJSON(t, map[string]any{
		"version": "0", "id": "eb-" + e.ID, "detail-type": e.Type, "source": e.Source, "account": "123456789012",
		"time": e.Time, "region": "cn-north-1", "resources": []string{}, "detail": e,
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func envelope(id, typ, subject string, seq int, at time.Time) outbox.Envelope {
	return outbox.Envelope{SpecVersion: outbox.SpecVersion, ID: id, Source: "/citycode/holders", Type: typ, Subject: subject,
		Time: at.UTC(), DataContentType: outbox.ContentType, Sequence: fmtSeq(seq), Data: json.RawMessage(`{"holder_id":"` + subject + `"}`)}
}

func fmtSeq(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 20 {
		s = "0" + s
	}
	return s
}

// world is one delivery test: a subscription of endpoint, a retry queue
// in moto, a clock and a Deliverer on them.
type world struct {
	clock *clock
	subs  *fakeSubscriptions
	queue retryQueue
	d     *Deliverer
}

func newWorld(t *testing.T, events Events, subs ...subscriptions.Subscription) *world {
	t.Helper()
	w := &world{clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, subs: newFakeSubscriptions(subs...), queue: newRetryQueue(t)}
	w.d = New(Deps{Subscriptions: w.subs, Events: events, Queue: w.queue.queue(), Client: NewHTTPClient(true),
		Backoff: Backoff{Base: 5 * time.Second, Max: 15 * time.Minute}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: w.clock.Now})
	return w
}

// serve serves h for the test's duration and answers its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func subscription(id, endpoint string, keys ...subscriptions.Secret) subscriptions.Subscription {
	return subscriptions.Subscription{ID: id, Org: "police-demo", Endpoint: endpoint, Types: []string{"city.holder.*"},
		Status: subscriptions.StatusActive, Secrets: keys}
}
