package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/subscriptions"
)

// Config is the delivery function's configuration, from its environment.
type Config struct {
	// RetryQueueURL is where retries and replay steps go
	// (DELIVERY_RETRY_QUEUE_URL).
	RetryQueueURL string
	// SubscriptionsTable holds the subscriptions (SUBSCRIPTIONS_TABLE).
	SubscriptionsTable string
	// Events is the outbox replays read (EVENTS_TABLE, EVENT_RETENTION).
	Events outbox.Config
	// SQSEndpoint, when set, aims the SQS client elsewhere than AWS: at
	// moto_server locally (SQS_ENDPOINT).
	SQSEndpoint string
	// AllowLoopback lets deliveries reach loopback addresses, for local
	// receivers (ALLOW_INSECURE_WEBHOOKS=true, as the subscriptions API).
	AllowLoopback bool
	// Backoff is DELIVERY_BACKOFF_BASE (5s) and DELIVERY_BACKOFF_MAX (15m):
	// a local demo may shorten them.
	Backoff Backoff
	// ReceiptsTable, when set, is where receipts of the ReceiptTypes go
	// (RECEIPTS_TABLE; RECEIPT_TYPES, comma-separated names or prefix.*).
	ReceiptsTable string
	ReceiptTypes  []string
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{RetryQueueURL: env("DELIVERY_RETRY_QUEUE_URL"), SubscriptionsTable: env("SUBSCRIPTIONS_TABLE"),
		SQSEndpoint: env("SQS_ENDPOINT"), AllowLoopback: env("ALLOW_INSECURE_WEBHOOKS") == "true",
		ReceiptsTable: env("RECEIPTS_TABLE"), ReceiptTypes: ParseReceiptTypes(env("RECEIPT_TYPES"))}
	if c.RetryQueueURL == "" || c.SubscriptionsTable == "" {
		return Config{}, errors.New("DELIVERY_RETRY_QUEUE_URL and SUBSCRIPTIONS_TABLE must be set")
	}
	if (c.ReceiptsTable == "") != (len(c.ReceiptTypes) == 0) {
		return Config{}, errors.New("RECEIPTS_TABLE and RECEIPT_TYPES are set together or not at all")
	}
	var err error
	if c.Events, err = outbox.ConfigFrom(env); err != nil {
		return Config{}, err
	}
	for _, d := range []struct {
		key, def string
		to       *time.Duration
	}{{"DELIVERY_BACKOFF_BASE", "5s", &c.Backoff.Base}, {"DELIVERY_BACKOFF_MAX", "15m", &c.Backoff.Max}} {
		if *d.to, err = time.ParseDuration(env.Lookup(d.key, d.def)); err != nil || *d.to < time.Second {
			return Config{}, fmt.Errorf("%s must be a duration of at least 1s", d.key)
		}
	}
	if c.Backoff.Max < c.Backoff.Base {
		return Config{}, errors.New("DELIVERY_BACKOFF_MAX must not be shorter than DELIVERY_BACKOFF_BASE")
	}
	return c, nil
}

// NewJob builds the delivery function for the delivery and retry queues:
// every invocation is an SQS batch (events.SQSEvent), and its answer an
// events.SQSEventResponse naming the messages to receive again.
func NewJob(ctx context.Context, env app.Env) (app.JobHandler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	policy, err := subscriptions.LoadPolicy()
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	q := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.SQSEndpoint)
		}
	})
	var receipts Receipts
	if cfg.ReceiptsTable != "" {
		receipts = NewReceiptStore(db, cfg.ReceiptsTable, cfg.ReceiptTypes)
	}
	d := New(Deps{
		Receipts:      receipts,
		Subscriptions: subscriptions.NewStore(db, cfg.SubscriptionsTable, policy),
		Events:        outbox.New(db, cfg.Events.Table, cfg.Events.Retention),
		Queue:         NewQueue(q, cfg.RetryQueueURL, MaxQueueDelay),
		Client:        NewHTTPClient(cfg.AllowLoopback),
		Backoff:       cfg.Backoff,
		Log:           logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "webhook-delivery"),
	})
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var batch events.SQSEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return nil, fmt.Errorf("webhooks: not an SQS event: %w", err)
		}
		return d.Handle(ctx, batch), nil
	}, nil
}
