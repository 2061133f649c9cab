package certificates

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/secretstore"
)

// Config is the certificates function's configuration, from its environment.
type Config struct {
	CertificatesTable string // CERTIFICATES_TABLE
	HoldersTable      string // HOLDERS_TABLE
	IdempotencyTable  string // IDEMPOTENCY_TABLE
	CodeUsesTable     string // CODE_USES_TABLE: checked references' marks
	// ReferenceLifetime (REFERENCE_LIFETIME, default 5m, at most 1h) is how
	// long a certificate's reference may be checked.
	ReferenceLifetime time.Duration
	// CategoriesFile (CERTIFICATE_CATEGORIES_FILE) and OrganisationsFile
	// (ORGANISATIONS_FILE) are the data files, loaded once per cold start.
	CategoriesFile    string
	OrganisationsFile string
	// Events is where changes write their events (EVENTS_TABLE,
	// EVENT_RETENTION).
	Events outbox.Config
}

// ConfigFrom reads the configuration from env; the document keys
// (DOCUMENT_KEYS_FILE or DOCUMENT_KEYS_SECRET_ARN, TRUST_ROOT_JWK) are read
// by LoadDocumentKeys.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{CertificatesTable: env("CERTIFICATES_TABLE"), HoldersTable: env("HOLDERS_TABLE"), IdempotencyTable: env("IDEMPOTENCY_TABLE"),
		CodeUsesTable: env("CODE_USES_TABLE"), CategoriesFile: env("CERTIFICATE_CATEGORIES_FILE"), OrganisationsFile: env("ORGANISATIONS_FILE")}
	if c.CertificatesTable == "" || c.HoldersTable == "" || c.IdempotencyTable == "" || c.CodeUsesTable == "" {
		return Config{}, errors.New("CERTIFICATES_TABLE, HOLDERS_TABLE, IDEMPOTENCY_TABLE and CODE_USES_TABLE must be set")
	}
	lifetime, err := time.ParseDuration(env.Lookup("REFERENCE_LIFETIME", "5m"))
	if err != nil || lifetime < time.Minute || lifetime > time.Hour {
		return Config{}, errors.New("REFERENCE_LIFETIME must be a duration from 1m to 1h")
	}
	c.ReferenceLifetime = lifetime
	if c.CategoriesFile == "" || c.OrganisationsFile == "" {
		return Config{}, errors.New("CERTIFICATE_CATEGORIES_FILE and ORGANISATIONS_FILE must be set")
	}
	events, err := outbox.ConfigFrom(env)
	if err != nil {
		return Config{}, err
	}
	c.Events = events
	return c, nil
}

// New builds the certificates function: configuration, data files, keys,
// clients, stores, routes. A broken data file or key ring fails here.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	cats, err := LoadCatalogue(cfg.CategoriesFile)
	if err != nil {
		return nil, err
	}
	orgs, err := LoadOrganisations(cfg.OrganisationsFile)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	keys, err := LoadDocumentKeys(ctx, env, secretstore.New(awsCfg).Read)
	if err != nil {
		return nil, err
	}
	// The holders' document key: issuing by holder_document finds the
	// holder through their document index.
	docKey, err := holders.DocumentKey(ctx, env, awsCfg)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	store := NewStore(db, cfg.CertificatesTable, cfg.HoldersTable, cfg.CodeUsesTable, outbox.New(db, cfg.Events.Table, cfg.Events.Retention), keys)
	// The ring's public keys are archived before the store's first
	// signature, not here: no network call at the cold start (keyarchive.go).
	api := NewAPI(store, holders.NewStore(db, cfg.HoldersTable, docKey), idempotency.NewStore(db, cfg.IdempotencyTable), cats, orgs, keys, cfg.ReferenceLifetime)
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "certificates"), mux), nil
}
