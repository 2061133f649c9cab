package qrissue

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
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/secretstore"
	"github.com/citycode/citycode/shared/trust"
)

// Config is qr-issue's configuration, from its environment. The signing
// keys come from SIGNING_KEYS_FILE (local) or SIGNING_KEYS_SECRET_ARN.
type Config struct {
	HoldersTable string        // HOLDERS_TABLE
	Issuer       string        // CODE_ISSUER, default CN-SH
	Lifetime     time.Duration // CODE_LIFETIME, default 60s
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{HoldersTable: env("HOLDERS_TABLE"), Issuer: env.Lookup("CODE_ISSUER", "CN-SH")}
	if c.HoldersTable == "" {
		return Config{}, errors.New("HOLDERS_TABLE must be set")
	}
	d, err := time.ParseDuration(env.Lookup("CODE_LIFETIME", "60s"))
	if err != nil || d < 10*time.Second || d > 10*time.Minute {
		return Config{}, errors.New("CODE_LIFETIME must be a duration from 10s to 10m")
	}
	c.Lifetime = d
	return c, nil
}

// New builds qr-issue: it loads the signing keys once per cold start and
// keeps no root key in memory.
func New(ctx context.Context, env app.Env) (http.Handler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	ring, err := trust.LoadKeyRing(ctx, env, secretstore.New(awsCfg).Read)
	if err != nil {
		return nil, err
	}
	if ring.Issuer != cfg.Issuer {
		return nil, errors.New("the signing keys belong to issuer " + ring.Issuer + ", not CODE_ISSUER " + cfg.Issuer)
	}
	store := holders.NewStore(awsclient.DynamoDB(awsCfg, env), cfg.HoldersTable, nil)
	mux := http.NewServeMux()
	NewAPI(store, ring.SigningOnly(), cfg.Issuer, cfg.Lifetime).Routes(mux)
	return httpapi.Serve(logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "qr-issue"), mux), nil
}
