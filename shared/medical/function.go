package medical

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/medpolicy"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/scan"
)

// Config is the hospital-settle function's configuration, from its
// environment. The scanner reads qr-verify's variables itself (shared/scan).
type Config struct {
	MedicalTable     string // MEDICAL_TABLE
	HoldersTable     string // HOLDERS_TABLE: logins and dependants, for the resident's own insurance
	IdempotencyTable string // IDEMPOTENCY_TABLE
	PoliciesDir      string // MEDICAL_POLICIES_DIR, e.g. infra/medical/policies
	ProvidersFile    string // MEDICAL_PROVIDERS_FILE, e.g. infra/medical/providers.json
	Events           outbox.Config
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{MedicalTable: env("MEDICAL_TABLE"), HoldersTable: env("HOLDERS_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE"),
		PoliciesDir: env("MEDICAL_POLICIES_DIR"), ProvidersFile: env("MEDICAL_PROVIDERS_FILE")}
	if c.MedicalTable == "" || c.HoldersTable == "" || c.IdempotencyTable == "" || c.PoliciesDir == "" || c.ProvidersFile == "" {
		return Config{}, errors.New("MEDICAL_TABLE, HOLDERS_TABLE, IDEMPOTENCY_TABLE, MEDICAL_POLICIES_DIR and MEDICAL_PROVIDERS_FILE must be set")
	}
	events, err := outbox.ConfigFrom(env)
	if err != nil {
		return Config{}, err
	}
	c.Events = events
	return c, nil
}

// New builds the hospital-settle function: configuration, policies and
// providers (a broken file fails here, not on a request), clients, stores,
// routes.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	policies, err := medpolicy.Load(cfg.PoliciesDir)
	if err != nil {
		return nil, fmt.Errorf("medical policies: %w", err)
	}
	providers, err := LoadProviders(cfg.ProvidersFile)
	if err != nil {
		return nil, err
	}
	if err := providers.CheckTiers(policies, time.Now()); err != nil {
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
	store := NewStore(db, cfg.MedicalTable, cfg.HoldersTable, outbox.New(db, cfg.Events.Table, cfg.Events.Retention), policies)
	// Only logins and dependant links are read: no document key needed.
	hs := holders.NewStore(db, cfg.HoldersTable, nil)
	mux := http.NewServeMux()
	NewAPI(store, hs, scanner, providers, idempotency.NewStore(db, cfg.IdempotencyTable)).Routes(mux)
	return httpapi.Serve(log, mux), nil
}

func logger(env app.Env) *slog.Logger {
	return logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "hospital-settle")
}
