package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/subscriptions"
)

// Subscriptions is what delivery needs of the subscriptions store.
type Subscriptions interface {
	// Matching answers the active subscriptions that want eventType.
	Matching(ctx context.Context, eventType string) ([]subscriptions.Subscription, error)
	// Get answers one subscription, subscriptions.ErrNotFound if deleted.
	Get(ctx context.Context, id string) (subscriptions.Subscription, error)
	// Disable stops deliveries to a subscription for good.
	Disable(ctx context.Context, id, reason string) error
	// AddDeadLetter records an event given up on, for the agency to list.
	AddDeadLetter(ctx context.Context, id string, e outbox.Envelope, attempts, lastStatus int, lastErr string) error
}

// Events is what a replay reads: *outbox.Outbox.
type Events interface {
	Since(ctx context.Context, after outbox.Position, limit int, keep func(outbox.Envelope) bool) ([]outbox.Envelope, outbox.Position, error)
	After(ctx context.Context, id string) (outbox.Position, error)
}

// Delivery tuning.
const (
	// MatchingTTL is how long the subscriptions wanting a type are cached:
	// an event recorded in the first seconds of a new subscription may not
	// reach it (a replay from its creation time does); the cache saves one
	// Query per event type and batch.
	MatchingTTL = 5 * time.Second
	// ReplayBatch is how many events one replay step delivers, one after
	// the other, each within Timeout: a step stays well inside the
	// function's timeout.
	ReplayBatch = 5
	// dueSlack lets a message received a moment before its NotBefore be
	// attempted rather than sent round again.
	dueSlack = time.Second
)

// Deps are a Deliverer's collaborators.
type Deps struct {
	Subscriptions Subscriptions
	Events        Events
	Queue         *Queue
	Client        *http.Client
	Backoff       Backoff
	// Receipts records what an endpoint accepted, for the event types it
	// receipts (receipts.go); nil records nothing.
	Receipts Receipts
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Receipts is what delivery needs of the receipts store: *ReceiptStore.
type Receipts interface {
	Record(ctx context.Context, org, subID string, e outbox.Envelope, at time.Time, n int) error
}

// Deliverer handles the delivery queues' messages (infra/delivery.md): it
// fans an EventBridge event out to the subscriptions that want it, makes
// the attempt a retry asks for, and runs replay steps.
type Deliverer struct {
	Deps
	mu       sync.Mutex
	matching map[string]cached
}

type cached struct {
	subs []subscriptions.Subscription
	at   time.Time
}

// New returns a Deliverer with deps.
func New(deps Deps) *Deliverer {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Deliverer{Deps: deps, matching: map[string]cached{}}
}

// Handle handles one SQS batch and reports the messages to receive again:
// those whose handling failed for a reason other than the endpoint (the
// store, the queue), and unreadable ones. An endpoint's failures are
// retries on the queue, never batch failures.
func (d *Deliverer) Handle(ctx context.Context, batch events.SQSEvent) events.SQSEventResponse {
	failed := make([]bool, len(batch.Records))
	var wg sync.WaitGroup
	for i, r := range batch.Records {
		wg.Go(func() {
			if err := d.handleMessage(ctx, []byte(r.Body)); err != nil {
				d.Log.ErrorContext(ctx, "message failed", "message_id", r.MessageId, "error", err)
				failed[i] = true
			}
		})
	}
	wg.Wait()
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, r := range batch.Records {
		if failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp
}

func (d *Deliverer) handleMessage(ctx context.Context, body []byte) error {
	var head bridgeEvent
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Errorf("%w: %w", errUnknownMessage, err)
	}
	switch {
	case head.Kind == KindRetry:
		var r Retry
		if err := json.Unmarshal(body, &r); err != nil || r.SubscriptionID == "" || r.Attempt < 2 || r.Event.ID == "" {
			return fmt.Errorf("%w: malformed retry", errUnknownMessage)
		}
		return d.retry(ctx, r)
	case head.Kind == KindReplay:
		var s ReplayStep
		if err := json.Unmarshal(body, &s); err != nil || s.SubscriptionID == "" || s.Position == "" {
			return fmt.Errorf("%w: malformed replay step", errUnknownMessage)
		}
		return d.replay(ctx, s)
	case head.Kind == "" && len(head.Detail) > 0:
		var e outbox.Envelope
		if err := json.Unmarshal(head.Detail, &e); err != nil || e.ID == "" || e.Type == "" {
			return fmt.Errorf("%w: detail is not an envelope", errUnknownMessage)
		}
		return d.fanOut(ctx, e)
	default:
		return errUnknownMessage
	}
}

// fanOut makes a first attempt to every subscription that wants e, in
// parallel, so that one slow endpoint does not hold up the others.
func (d *Deliverer) fanOut(ctx context.Context, e outbox.Envelope) error {
	subs, err := d.subscribers(ctx, e.Type)
	if err != nil {
		return err
	}
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	now := d.Now()
	for i, s := range subs {
		wg.Go(func() { errs[i] = d.attempt(ctx, s, e, 1, now) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// subscribers answers Matching(eventType), cached for MatchingTTL.
func (d *Deliverer) subscribers(ctx context.Context, eventType string) ([]subscriptions.Subscription, error) {
	now := d.Now()
	d.mu.Lock()
	c, ok := d.matching[eventType]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < MatchingTTL {
		return c.subs, nil
	}
	subs, err := d.Subscriptions.Matching(ctx, eventType)
	if err != nil {
		return nil, fmt.Errorf("webhooks: subscriptions for %s: %w", eventType, err)
	}
	d.mu.Lock()
	d.matching[eventType] = cached{subs: subs, at: now}
	d.mu.Unlock()
	return subs, nil
}

// retry makes the attempt r asks for, once it is due.
func (d *Deliverer) retry(ctx context.Context, r Retry) error {
	if wait := r.NotBefore.Sub(d.Now()); wait > dueSlack {
		return d.Queue.Send(ctx, r, wait)
	}
	s, err := d.Subscriptions.Get(ctx, r.SubscriptionID)
	switch {
	case errors.Is(err, subscriptions.ErrNotFound):
		d.Log.InfoContext(ctx, "retry dropped: subscription deleted", "subscription_id", r.SubscriptionID, "event_id", r.Event.ID)
		return nil
	case err != nil:
		return fmt.Errorf("webhooks: subscription %s: %w", r.SubscriptionID, err)
	case s.Status != subscriptions.StatusActive:
		// Paused or disabled since the event came: the agency lists what
		// it missed among its dead letters.
		return d.deadLetter(ctx, s, r.Event, r.Attempt-1, outcome{err: "subscription " + s.Status})
	case !s.Wants(r.Event.Type):
		d.Log.InfoContext(ctx, "retry dropped: type no longer wanted", "subscription_id", s.ID, "event_id", r.Event.ID)
		return nil
	}
	return d.attempt(ctx, s, r.Event, r.Attempt, r.FirstAttempt)
}

// attempt makes attempt n to deliver e to s, and on failure schedules the
// next one, or gives up: disabled on 410, a dead letter after MaxAttempts
// or past MaxAge after the first attempt.
func (d *Deliverer) attempt(ctx context.Context, s subscriptions.Subscription, e outbox.Envelope, n int, first time.Time) error {
	now := d.Now()
	o := post(ctx, d.Client, s.Endpoint, keys(s, now), e, now)
	log := d.Log.With("subscription_id", s.ID, "event_id", e.ID, "attempt", n, "status", o.status)
	switch {
	case o.ok():
		log.InfoContext(ctx, "delivered")
		return d.receipt(ctx, s, e, n)
	case o.gone():
		log.WarnContext(ctx, "endpoint gone: subscription disabled")
		return d.disable(ctx, s)
	}
	wait := d.Backoff.Wait(n, o.retryAfter)
	if n >= MaxAttempts || now.Add(wait).Sub(first) > MaxAge {
		return d.deadLetter(ctx, s, e, n, o)
	}
	log.InfoContext(ctx, "attempt failed: retrying", "error", o.err, "wait", wait.String())
	return d.Queue.Send(ctx, Retry{Kind: KindRetry, SubscriptionID: s.ID, Attempt: n + 1, Event: e,
		FirstAttempt: first, NotBefore: now.Add(wait)}, wait)
}

// receipt records that s's endpoint accepted e at attempt n. Its failure
// fails the message, which is received and delivered again: an accepted
// event of a receipted type never goes without its receipt.
func (d *Deliverer) receipt(ctx context.Context, s subscriptions.Subscription, e outbox.Envelope, n int) error {
	if d.Receipts == nil {
		return nil
	}
	return d.Receipts.Record(ctx, s.Org, s.ID, e, d.Now(), n)
}

func (d *Deliverer) disable(ctx context.Context, s subscriptions.Subscription) error {
	if err := d.Subscriptions.Disable(ctx, s.ID, "the endpoint answered 410 Gone"); err != nil && !errors.Is(err, subscriptions.ErrNotFound) {
		return fmt.Errorf("webhooks: disable %s: %w", s.ID, err)
	}
	return nil
}

func (d *Deliverer) deadLetter(ctx context.Context, s subscriptions.Subscription, e outbox.Envelope, attempts int, o outcome) error {
	d.Log.WarnContext(ctx, "dead letter", "subscription_id", s.ID, "event_id", e.ID, "attempts", attempts, "status", o.status, "error", o.err)
	if err := d.Subscriptions.AddDeadLetter(ctx, s.ID, e, attempts, o.status, o.err); err != nil && !errors.Is(err, subscriptions.ErrNotFound) {
		return fmt.Errorf("webhooks: dead letter for %s: %w", s.ID, err)
	}
	return nil
}

// keys answers the keys that sign a delivery to s at now.
func keys(s subscriptions.Subscription, now time.Time) [][]byte {
	var out [][]byte
	for _, sec := range s.LiveSecrets(now) {
		out = append(out, sec.Key)
	}
	return out
}

// replay runs one replay step: the next ReplayBatch events after the
// step's position that the subscription wants, delivered in order. At the
// first failure it sends the step again from that event, after the
// backoff (the event becomes a dead letter after MaxAttempts, and the
// replay goes on after it); after a full batch it sends the next step. A
// replay ends when it reaches the events too young to replay, which
// reach the subscription through the stream, or when the subscription is
// no longer active.
func (d *Deliverer) replay(ctx context.Context, step ReplayStep) error {
	if wait := step.NotBefore.Sub(d.Now()); wait > dueSlack {
		return d.Queue.Send(ctx, step, wait)
	}
	log := d.Log.With("subscription_id", step.SubscriptionID, "replay_id", step.ReplayID)
	s, err := d.Subscriptions.Get(ctx, step.SubscriptionID)
	switch {
	case errors.Is(err, subscriptions.ErrNotFound):
		log.InfoContext(ctx, "replay ended: subscription deleted")
		return nil
	case err != nil:
		return fmt.Errorf("webhooks: subscription %s: %w", step.SubscriptionID, err)
	case s.Status != subscriptions.StatusActive:
		log.InfoContext(ctx, "replay ended: subscription "+s.Status)
		return nil
	}
	batch, next, err := d.Events.Since(ctx, step.Position, ReplayBatch, func(e outbox.Envelope) bool { return s.Wants(e.Type) })
	if err != nil {
		return fmt.Errorf("webhooks: replay %s: %w", step.ReplayID, err)
	}
	for i, e := range batch {
		now := d.Now()
		o := post(ctx, d.Client, s.Endpoint, keys(s, now), e, now)
		switch {
		case o.ok():
			if err := d.receipt(ctx, s, e, max(step.Attempt, 1)); err != nil {
				return err
			}
			continue
		case o.gone():
			log.WarnContext(ctx, "replay ended: endpoint gone, subscription disabled", "event_id", e.ID)
			return d.disable(ctx, s)
		}
		n := max(step.Attempt, 1)
		if n >= MaxAttempts {
			if err := d.deadLetter(ctx, s, e, n, o); err != nil {
				return err
			}
			pos, err := d.position(ctx, step, e.ID)
			if err != nil {
				return err
			}
			return d.sendStep(ctx, step, pos, 0, 0, now)
		}
		pos := step.Position
		if i > 0 {
			if pos, err = d.position(ctx, step, batch[i-1].ID); err != nil {
				return err
			}
		}
		wait := d.Backoff.Wait(n, o.retryAfter)
		log.InfoContext(ctx, "replay attempt failed: retrying", "event_id", e.ID, "attempt", n, "status", o.status, "error", o.err, "wait", wait.String())
		return d.sendStep(ctx, step, pos, n+1, wait, now)
	}
	if len(batch) < ReplayBatch {
		log.InfoContext(ctx, "replay done", "position", string(next))
		return nil
	}
	return d.sendStep(ctx, step, next, 0, 0, d.Now())
}

// position answers the outbox position of event id, from which a replay
// continues after it.
func (d *Deliverer) position(ctx context.Context, step ReplayStep, id string) (outbox.Position, error) {
	pos, err := d.Events.After(ctx, id)
	if err != nil {
		return "", fmt.Errorf("webhooks: replay %s: position of %s: %w", step.ReplayID, id, err)
	}
	return pos, nil
}

// sendStep queues step again from pos, as attempt n, due after wait.
func (d *Deliverer) sendStep(ctx context.Context, step ReplayStep, pos outbox.Position, n int, wait time.Duration, now time.Time) error {
	step.Position, step.Attempt, step.NotBefore = pos, n, time.Time{}
	if wait > 0 {
		step.NotBefore = now.Add(wait)
	}
	return d.Queue.Send(ctx, step, wait)
}
