package venues

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/scan"
)

// Config is venue-entry's configuration, from its environment (besides
// the scanner's, which shared/scan reads).
type Config struct {
	VenuesTable      string // VENUES_TABLE
	IdempotencyTable string // IDEMPOTENCY_TABLE
	// Venues is VENUES_FILE (infra/venues/venues.json), loaded and checked
	// at cold start.
	Venues map[string]Venue
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{VenuesTable: env("VENUES_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE")}
	if c.VenuesTable == "" || c.IdempotencyTable == "" || env("VENUES_FILE") == "" {
		return Config{}, errors.New("VENUES_TABLE, IDEMPOTENCY_TABLE and VENUES_FILE must be set")
	}
	v, err := LoadVenues(env("VENUES_FILE"))
	if err != nil {
		return Config{}, err
	}
	c.Venues = v
	return c, nil
}

// New builds venue-entry: configuration, clients, store, scanner, routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	log := logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "venue-entry")
	scanner, err := scan.New(env, log)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	mux := http.NewServeMux()
	NewAPI(cfg.Venues, NewStore(db, cfg.VenuesTable), scanner, idempotency.NewStore(db, cfg.IdempotencyTable)).Routes(mux)
	return httpapi.Serve(log, mux), nil
}
