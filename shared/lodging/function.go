package lodging

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/scan"
	"github.com/citycode/citycode/shared/webhooks"
)

// Config is the configuration of hotel-checkin and lodging-reports, from
// their environment.
type Config struct {
	LodgingTable  string // LODGING_TABLE
	ReceiptsTable string // RECEIPTS_TABLE: delivery receipts of the reports
	// Policy is LODGING_POLICY_FILE (infra/lodging/policy.json), loaded
	// and checked at cold start.
	Policy Policy
	// HoldersTable (HOLDERS_TABLE) holds minors' guardianship links;
	// hotel-checkin only, as IdempotencyTable (IDEMPOTENCY_TABLE) and
	// Events (EVENTS_TABLE, EVENT_RETENTION).
	HoldersTable     string
	IdempotencyTable string
	Events           outbox.Config
}

// ConfigFrom reads what both functions need from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{LodgingTable: env("LODGING_TABLE"), ReceiptsTable: env("RECEIPTS_TABLE"),
		HoldersTable: env("HOLDERS_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE")}
	if c.LodgingTable == "" || c.ReceiptsTable == "" || env("LODGING_POLICY_FILE") == "" {
		return Config{}, errors.New("LODGING_TABLE, RECEIPTS_TABLE and LODGING_POLICY_FILE must be set")
	}
	p, err := LoadPolicy(env("LODGING_POLICY_FILE"))
	if err != nil {
		return Config{}, err
	}
	c.Policy = p
	return c, nil
}

// apiConfigFrom adds what hotel-checkin needs besides.
func apiConfigFrom(env app.Env) (Config, error) {
	c, err := ConfigFrom(env)
	if err != nil {
		return Config{}, err
	}
	if c.HoldersTable == "" || c.IdempotencyTable == "" {
		return Config{}, errors.New("HOLDERS_TABLE and IDEMPOTENCY_TABLE must be set")
	}
	if c.Events, err = outbox.ConfigFrom(env); err != nil {
		return Config{}, err
	}
	return c, nil
}

func dynamo(ctx context.Context, env app.Env) (*dynamodb.Client, error) {
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	return awsclient.DynamoDB(awsCfg, env), nil
}

// New builds hotel-checkin: configuration, clients, stores, the in-process
// scanner, routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := apiConfigFrom(env)
	if err != nil {
		return nil, err
	}
	log := logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "hotel-checkin")
	scanner, err := scan.New(env, log)
	if err != nil {
		return nil, err
	}
	db, err := dynamo(ctx, env)
	if err != nil {
		return nil, err
	}
	store := NewStore(db, cfg.LodgingTable, cfg.HoldersTable, outbox.New(db, cfg.Events.Table, cfg.Events.Retention),
		webhooks.NewReceiptStore(db, cfg.ReceiptsTable, nil), cfg.Policy)
	api := NewAPI(store, scanner, holders.NewStore(db, cfg.HoldersTable, nil), idempotency.NewStore(db, cfg.IdempotencyTable), cfg.Policy)
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(log, mux), nil
}
