package holders

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/secretstore"
)

// Config is the holders function's configuration, from its environment.
type Config struct {
	HoldersTable     string // HOLDERS_TABLE
	IdempotencyTable string // IDEMPOTENCY_TABLE
	// DocumentKeyHex (DOCUMENT_KEY, local runs) or DocumentKeySecretARN
	// (DOCUMENT_KEY_SECRET_ARN, AWS) provides the document index's HMAC key.
	DocumentKeyHex       string
	DocumentKeySecretARN string
	// Events is where enrollments write their events (EVENTS_TABLE,
	// EVENT_RETENTION).
	Events outbox.Config
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{HoldersTable: env("HOLDERS_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE"),
		DocumentKeyHex: env("DOCUMENT_KEY"), DocumentKeySecretARN: env("DOCUMENT_KEY_SECRET_ARN")}
	switch {
	case c.HoldersTable == "" || c.IdempotencyTable == "":
		return Config{}, errors.New("HOLDERS_TABLE and IDEMPOTENCY_TABLE must be set")
	case c.DocumentKeyHex == "" && c.DocumentKeySecretARN == "":
		return Config{}, errors.New("DOCUMENT_KEY or DOCUMENT_KEY_SECRET_ARN must be set")
	}
	events, err := outbox.ConfigFrom(env)
	if err != nil {
		return Config{}, err
	}
	c.Events = events
	return c, nil
}

// New builds the holders function: configuration, clients, stores, routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	docKey, err := documentKey(ctx, cfg, awsCfg)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	store := NewStore(db, cfg.HoldersTable, docKey).WithOutbox(outbox.New(db, cfg.Events.Table, cfg.Events.Retention))
	api := NewAPI(store, idempotency.NewStore(db, cfg.IdempotencyTable))
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(logger(env), mux), nil
}

func logger(env app.Env) *slog.Logger {
	return logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "holders")
}

// documentKey loads the HMAC key once per cold start.
func documentKey(ctx context.Context, cfg Config, awsCfg aws.Config) ([]byte, error) {
	if cfg.DocumentKeyHex != "" {
		k, err := hex.DecodeString(cfg.DocumentKeyHex)
		if err != nil || len(k) < 32 {
			return nil, errors.New("DOCUMENT_KEY must be at least 32 bytes, hex-encoded")
		}
		return k, nil
	}
	secret, err := secretstore.New(awsCfg).Read(ctx, cfg.DocumentKeySecretARN)
	if err != nil {
		return nil, fmt.Errorf("read document key secret: %w", err)
	}
	if len(secret) < 32 {
		return nil, errors.New("document key secret is shorter than 32 characters")
	}
	return []byte(secret), nil
}
