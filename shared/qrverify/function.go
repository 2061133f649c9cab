package qrverify

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/trust"
)

// Config is qr-verify's configuration, from its environment.
type Config struct {
	HoldersTable  string        // HOLDERS_TABLE
	CodeUsesTable string        // CODE_USES_TABLE
	HomeIssuer    string        // CODE_ISSUER, default CN-SH
	ClockSkew     time.Duration // CODE_CLOCK_SKEW, default 30s
	Trust         trust.SourceConfig
	// CertificatesTable (CERTIFICATES_TABLE, optional) receives the
	// consents that government scans grant, lasting ConsentWindowTTL
	// (CONSENT_WINDOW_TTL, default 15m, 1m to 1h).
	CertificatesTable string
	ConsentWindowTTL  time.Duration
	// Provisioned is true when Lambda initialises the function ahead of
	// traffic (AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency):
	// then init may pre-warm; on an on-demand cold start it does no I/O.
	Provisioned bool
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{HoldersTable: env("HOLDERS_TABLE"), CodeUsesTable: env("CODE_USES_TABLE"), HomeIssuer: env.Lookup("CODE_ISSUER", "CN-SH"),
		Provisioned: env("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"}
	if c.HoldersTable == "" || c.CodeUsesTable == "" {
		return Config{}, errors.New("HOLDERS_TABLE and CODE_USES_TABLE must be set")
	}
	skew, err := time.ParseDuration(env.Lookup("CODE_CLOCK_SKEW", "30s"))
	if err != nil || skew < 0 || skew > 5*time.Minute {
		return Config{}, errors.New("CODE_CLOCK_SKEW must be a duration from 0 to 5m")
	}
	c.ClockSkew = skew
	c.CertificatesTable = env("CERTIFICATES_TABLE")
	ttl, err := time.ParseDuration(env.Lookup("CONSENT_WINDOW_TTL", "15m"))
	if err != nil || ttl < time.Minute || ttl > time.Hour {
		return Config{}, errors.New("CONSENT_WINDOW_TTL must be a duration from 1m to 1h")
	}
	c.ConsentWindowTTL = ttl
	if c.Trust, err = trust.SourceConfigFromEnv(env); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Parts are what qr-verify builds from its environment, and what
// shared/scan builds the same way for the capabilities that scan
// in-process.
type Parts struct {
	Config   Config
	List     *trust.TableSource
	Store    *DynamoStore
	Verifier *Verifier
}

// PartsFrom reads the configuration from env and builds the verifier over
// dynamolite. It makes no network call: the trust list is read on the
// first scan and cached for TRUST_REFRESH.
func PartsFrom(env app.Env, log *slog.Logger) (Parts, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return Parts{}, err
	}
	dbCfg, err := dynamolite.ConfigFromEnv(env)
	if err != nil {
		return Parts{}, err
	}
	db, err := dynamolite.New(dbCfg)
	if err != nil {
		return Parts{}, err
	}
	list := trust.NewTableSource(db, cfg.Trust, log)
	store := NewDynamoStore(db, cfg.CodeUsesTable, cfg.HoldersTable)
	return Parts{Config: cfg, List: list, Store: store, Verifier: NewVerifier(list, store, cfg.HomeIssuer, cfg.ClockSkew)}, nil
}

// New builds qr-verify. It makes no network call unless Lambda says the
// instance is provisioned ahead of traffic, when it loads the trust list
// (and so opens the DynamoDB connection) before the first scan.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	log := logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "qr-verify")
	p, err := PartsFrom(env, log)
	if err != nil {
		return nil, err
	}
	if p.Config.Provisioned {
		if _, err := p.List.Current(ctx); err != nil {
			log.Warn("pre-warm: trust list not loaded; the first scan will load it", "error", err)
		}
	}
	api := NewAPI(p.Verifier, p.List)
	if p.Config.CertificatesTable != "" {
		api = api.WithConsents(p.Store.WithCertificates(p.Config.CertificatesTable), p.Config.ConsentWindowTTL)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	return httpapi.Serve(log, mux), nil
}
