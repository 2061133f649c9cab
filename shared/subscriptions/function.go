package subscriptions

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
)

// Config is the subscriptions function's configuration, from its
// environment.
type Config struct {
	SubscriptionsTable string // SUBSCRIPTIONS_TABLE
	IdempotencyTable   string // IDEMPOTENCY_TABLE
	// Events is where replays find event ids (EVENTS_TABLE) and how far
	// back they reach (EVENT_RETENTION).
	Events outbox.Config
	// RetryQueueURL is the delivery retry queue, where a replay's first
	// step goes (DELIVERY_RETRY_QUEUE_URL); SQSEndpoint overrides the SQS
	// endpoint for local runs and tests (SQS_ENDPOINT).
	RetryQueueURL string
	SQSEndpoint   string
	// AllowInsecureWebhooks admits endpoints on this machine, over http
	// too (ALLOW_INSECURE_WEBHOOKS=true; local runs only).
	AllowInsecureWebhooks bool
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{SubscriptionsTable: env("SUBSCRIPTIONS_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE"),
		RetryQueueURL: env("DELIVERY_RETRY_QUEUE_URL"), SQSEndpoint: env("SQS_ENDPOINT")}
	if c.SubscriptionsTable == "" || c.IdempotencyTable == "" || c.RetryQueueURL == "" {
		return Config{}, errors.New("SUBSCRIPTIONS_TABLE, IDEMPOTENCY_TABLE and DELIVERY_RETRY_QUEUE_URL must be set")
	}
	insecure, err := strconv.ParseBool(env.Lookup("ALLOW_INSECURE_WEBHOOKS", "false"))
	if err != nil {
		return Config{}, errors.New("ALLOW_INSECURE_WEBHOOKS must be true or false")
	}
	c.AllowInsecureWebhooks = insecure
	if c.Events, err = outbox.ConfigFrom(env); err != nil {
		return Config{}, err
	}
	return c, nil
}

// New builds the subscriptions function: configuration, clients, stores,
// routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	policy, err := LoadPolicy()
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	queue := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.SQSEndpoint)
		}
	})
	api := NewAPI(NewStore(db, cfg.SubscriptionsTable, policy), idempotency.NewStore(db, cfg.IdempotencyTable), Options{
		Policy:        policy,
		Events:        outbox.New(db, cfg.Events.Table, cfg.Events.Retention),
		Retention:     cfg.Events.Retention,
		Replays:       ReplayQueue{SQS: queue, URL: cfg.RetryQueueURL},
		AllowLoopback: cfg.AllowInsecureWebhooks,
	})
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "subscriptions"), mux), nil
}
