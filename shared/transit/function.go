package transit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/scan"
)

// Config is transit-fare's configuration, from its environment. The
// scanner reads qr-verify's variables itself (shared/scan).
type Config struct {
	TransitTable     string // TRANSIT_TABLE
	HoldersTable     string // HOLDERS_TABLE
	CodeUsesTable    string // CODE_USES_TABLE
	IdempotencyTable string // IDEMPOTENCY_TABLE
	GTFSDir          string // TRANSIT_GTFS_DIR
	FareRulesFile    string // FARE_RULES_FILE
	GatesFile        string // TRANSIT_GATES_FILE
	Events           outbox.Config
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{TransitTable: env("TRANSIT_TABLE"), HoldersTable: env("HOLDERS_TABLE"), CodeUsesTable: env("CODE_USES_TABLE"),
		IdempotencyTable: env("IDEMPOTENCY_TABLE"), GTFSDir: env("TRANSIT_GTFS_DIR"), FareRulesFile: env("FARE_RULES_FILE"),
		GatesFile: env("TRANSIT_GATES_FILE")}
	if c.TransitTable == "" || c.HoldersTable == "" || c.CodeUsesTable == "" || c.IdempotencyTable == "" {
		return Config{}, errors.New("TRANSIT_TABLE, HOLDERS_TABLE, CODE_USES_TABLE and IDEMPOTENCY_TABLE must be set")
	}
	if c.GTFSDir == "" || c.FareRulesFile == "" || c.GatesFile == "" {
		return Config{}, errors.New("TRANSIT_GTFS_DIR, FARE_RULES_FILE and TRANSIT_GATES_FILE must be set")
	}
	events, err := outbox.ConfigFrom(env)
	if err != nil {
		return Config{}, err
	}
	c.Events = events
	return c, nil
}

// New builds transit-fare: the network, fares and gates loaded and checked
// once (a broken file fails here, not in a request), the scanner, stores
// and routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	net, err := fares.Load(cfg.GTFSDir, cfg.FareRulesFile)
	if err != nil {
		return nil, err
	}
	gates, err := LoadGates(cfg.GatesFile, net)
	if err != nil {
		return nil, err
	}
	log := logger(env)
	scanner, err := scan.New(env, log)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	store := NewStore(db, cfg.TransitTable, cfg.HoldersTable, cfg.CodeUsesTable, outbox.New(db, cfg.Events.Table, cfg.Events.Retention))
	api := NewAPI(NewService(net, gates, scanner, store), holders.NewStore(db, cfg.HoldersTable, nil), idempotency.NewStore(db, cfg.IdempotencyTable))
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(log, mux), nil
}

func logger(env app.Env) *slog.Logger {
	return logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "transit-fare")
}
