package trustpublish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/secretstore"
	"github.com/citycode/citycode/shared/trust"
)

// Config is the publisher's configuration, from its environment.
//
// In AWS: ROOT_KEYS_SECRET_ARN (the full ring, root included),
// SIGNING_KEYS_SECRET_ARN (the signing-only copy qr-issue reads),
// TRUST_PEERS (a JSON array of Peer). Locally: ROOT_KEYS_FILE and
// TRUST_PEER_FILES (comma-separated peer files). Both: TRUST_TABLE.
type Config struct {
	TrustTable                string
	RootSecret, SigningSecret string
	RootFile                  string
	Peers                     []Peer
	PeerFiles                 []string
}

// ConfigFrom reads the configuration from env.
func ConfigFrom(env app.Env) (Config, error) {
	c := Config{TrustTable: env("TRUST_TABLE"), RootSecret: env("ROOT_KEYS_SECRET_ARN"),
		SigningSecret: env("SIGNING_KEYS_SECRET_ARN"), RootFile: env("ROOT_KEYS_FILE")}
	if c.TrustTable == "" {
		return Config{}, errors.New("TRUST_TABLE must be set")
	}
	if c.RootFile == "" && (c.RootSecret == "" || c.SigningSecret == "") {
		return Config{}, errors.New("ROOT_KEYS_FILE, or ROOT_KEYS_SECRET_ARN and SIGNING_KEYS_SECRET_ARN, must be set")
	}
	if err := json.Unmarshal([]byte(env.Lookup("TRUST_PEERS", "[]")), &c.Peers); err != nil {
		return Config{}, fmt.Errorf("TRUST_PEERS must be a JSON array of {issuer, url, root}: %w", err)
	}
	if files := env("TRUST_PEER_FILES"); files != "" {
		c.PeerFiles = strings.Split(files, ",")
	}
	return c, nil
}

// NewJob builds the scheduled publisher: every invocation (an EventBridge
// schedule's tick; the event itself says nothing) publishes a list.
func NewJob(ctx context.Context, env app.Env) (app.JobHandler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	log := logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "trust-publisher")
	liteCfg, err := dynamolite.ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	db, err := dynamolite.New(liteCfg)
	if err != nil {
		return nil, err
	}
	var keys Keys = FileKeys(cfg.RootFile)
	if cfg.RootFile == "" {
		awsCfg, err := awsclient.Config(ctx, env)
		if err != nil {
			return nil, err
		}
		keys = SecretKeys{Store: secretstore.New(awsCfg), Root: cfg.RootSecret, Signing: cfg.SigningSecret}
	}
	var peers Peers = FilePeers(cfg.PeerFiles)
	if len(cfg.Peers) > 0 {
		peers = HTTPPeers{Peers: cfg.Peers, Client: &http.Client{Timeout: 15 * time.Second}, Cache: TablePeerCache{DB: db, Table: cfg.TrustTable}, Log: log}
	}
	p := New(keys, peers, trust.NewStore(db, cfg.TrustTable), DefaultPolicy, log)
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		_, err := p.Run(ctx, time.Now().UTC())
		return nil, err
	}, nil
}

// SecretKeys keeps the rings in Secrets Manager: the full ring in Root, the
// signing-only copy in Signing.
type SecretKeys struct {
	Store         *secretstore.Store
	Root, Signing string
}

// Load reads the full ring.
func (s SecretKeys) Load(ctx context.Context) (*trust.KeyRing, error) {
	text, err := s.Store.Read(ctx, s.Root)
	if err != nil {
		return nil, err
	}
	var r trust.KeyRing
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return nil, fmt.Errorf("root keys secret: %w", err)
	}
	return &r, nil
}

// Save writes the signing-only copy first, then the full ring: a crash in
// between leaves qr-issue with the new key and this function rotating again.
func (s SecretKeys) Save(ctx context.Context, full *trust.KeyRing) error {
	signing, err := json.Marshal(full.SigningOnly())
	if err != nil {
		return err
	}
	whole, err := json.Marshal(full)
	if err != nil {
		return err
	}
	if err := s.Store.Write(ctx, s.Signing, string(signing)); err != nil {
		return err
	}
	return s.Store.Write(ctx, s.Root, string(whole))
}

// TablePeerCache keeps each peer's last good list in the trust table, as
// item pk = PEER#<issuer>.
type TablePeerCache struct {
	DB    *dynamolite.Client
	Table string
}

// GetPeer answers the cached list of issuer.
func (c TablePeerCache) GetPeer(ctx context.Context, issuer string) (string, error) {
	out, err := c.DB.GetItem(ctx, dynamolite.GetItemInput{TableName: c.Table, Key: dynamolite.Item{"pk": dynamolite.String("PEER#" + issuer)}, ConsistentRead: true})
	if err != nil {
		return "", err
	}
	signed, err := out.Item.GetString("signed")
	if err != nil {
		return "", fmt.Errorf("no cached list for %s: %w", issuer, err)
	}
	return signed, nil
}

// PutPeer caches issuer's list.
func (c TablePeerCache) PutPeer(ctx context.Context, issuer, signed string) error {
	return c.DB.PutItem(ctx, dynamolite.PutItemInput{TableName: c.Table, Item: dynamolite.Item{
		"pk": dynamolite.String("PEER#" + issuer), "signed": dynamolite.String(signed)}})
}
