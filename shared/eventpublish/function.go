package eventpublish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/logging"
)

// Config is the publisher's configuration, from its environment.
type Config struct {
	// Bus is the EventBridge bus's name or ARN (EVENT_BUS_NAME).
	Bus string
	// Endpoint, when set, aims the EventBridge client elsewhere than AWS:
	// at moto_server locally (EVENTBRIDGE_ENDPOINT).
	Endpoint string
}

// ConfigFrom reads EVENT_BUS_NAME and EVENTBRIDGE_ENDPOINT from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{Bus: env("EVENT_BUS_NAME"), Endpoint: env("EVENTBRIDGE_ENDPOINT")}
	if c.Bus == "" {
		return Config{}, errors.New("EVENT_BUS_NAME must be set")
	}
	return c, nil
}

// NewJob builds the publisher for EventsTable's stream: every invocation
// is a batch of stream records (events.DynamoDBEvent), and its answer an
// events.DynamoDBEventResponse naming the record to deliver again from.
func NewJob(ctx context.Context, env app.Env) (app.JobHandler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	eb, err := client(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	p := New(eb, cfg.Bus, logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "event-publisher"))
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var batch events.DynamoDBEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return nil, fmt.Errorf("eventpublish: not a DynamoDB stream event: %w", err)
		}
		return p.Publish(ctx, batch), nil
	}, nil
}

// client returns an EventBridge client from env (see awsclient.Config),
// aimed at cfg.Endpoint when set.
func client(ctx context.Context, env app.Env, cfg Config) (*eventbridge.Client, error) {
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	return eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	}), nil
}
