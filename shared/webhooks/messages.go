package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/outbox"
)

// Kinds of the messages the delivery function sends itself, in their
// "kind" field; an EventBridge event has none.
const (
	KindRetry  = "retry"
	KindReplay = "replay"
)

// Retry is a message asking for one more attempt to deliver Event to one
// subscription.
type Retry struct {
	Kind           string `json:"kind"` // KindRetry
	SubscriptionID string `json:"subscription_id"`
	// Attempt is the number of the attempt to make: 2 after the first
	// failure.
	Attempt int             `json:"attempt"`
	Event   outbox.Envelope `json:"event"`
	// FirstAttempt is when the event was first attempted; MaxAge after it,
	// it becomes a dead letter.
	FirstAttempt time.Time `json:"first_attempt_at"`
	// NotBefore is when the attempt is due. SQS delays a message at most
	// 15 minutes: a message received before it is sent again, delayed by
	// the remainder.
	NotBefore time.Time `json:"not_before,omitzero"`
}

// ReplayStep is a message asking to deliver to one subscription, in
// order, the next events after Position that it wants. The subscriptions
// API sends the first step of a replay; each step sends the next.
type ReplayStep struct {
	Kind           string          `json:"kind"` // KindReplay
	SubscriptionID string          `json:"subscription_id"`
	ReplayID       string          `json:"replay_id"`
	Position       outbox.Position `json:"position"`
	// Attempt is the number of the attempt to make at the first event after
	// Position; 0 or absent is the first.
	Attempt   int       `json:"attempt,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

// bridgeEvent is an EventBridge event as its rule's SQS target receives
// it; its detail is the outbox envelope the publisher put on the bus.
type bridgeEvent struct {
	Kind       string          `json:"kind"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Queue sends messages to the delivery function's retry queue.
type Queue struct {
	client *sqs.Client
	url    string
	// maxDelay is the longest SQS delay to ask for; longer waits are
	// carried by the message's NotBefore.
	maxDelay time.Duration
}

// MaxQueueDelay is the longest delay SQS allows on a message.
const MaxQueueDelay = 15 * time.Minute

// NewQueue sends to the queue at url, delaying each message by its wait,
// up to maxDelay (MaxQueueDelay in AWS; a test that drives retries itself
// passes 0).
func NewQueue(client *sqs.Client, url string, maxDelay time.Duration) *Queue {
	return &Queue{client: client, url: url, maxDelay: min(maxDelay, MaxQueueDelay)}
}

// Send queues msg (a Retry or a ReplayStep), visible after wait or the
// queue's maximum delay, whichever is shorter.
func (q *Queue) Send(ctx context.Context, msg any, wait time.Duration) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("webhooks: marshal message: %w", err)
	}
	delay := min(wait, q.maxDelay)
	seconds := int32((delay + time.Second - 1) / time.Second)
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body)), DelaySeconds: max(seconds, 0),
	}); err != nil {
		return fmt.Errorf("webhooks: queue message: %w", err)
	}
	return nil
}

// errUnknownMessage is a message the function cannot read: reported as a
// batch item failure, so that after the queue's receive count it lands in
// the dead-letter queue, whose alarm calls someone.
var errUnknownMessage = errors.New("webhooks: not an EventBridge event, a retry or a replay step")
