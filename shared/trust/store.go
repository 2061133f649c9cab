package trust

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/dynamolite"
)

// DefaultSourceRefresh is how long a TableSource serves a list before it
// reads the table again (TRUST_REFRESH).
const DefaultSourceRefresh = 5 * time.Minute

// currentPK is the key of the current list's item in the trust table.
const currentPK = "LIST#current"

var (
	// ErrNoList means the trust table holds no list yet.
	ErrNoList = errors.New("trust: no trust list stored")
	// ErrVersionNotNewer means Put was refused: the stored list's version
	// is the same or higher.
	ErrVersionNotNewer = errors.New("trust: stored trust list version is not lower")
)

// Store keeps the current signed list in the trust table (pk "pk"): one
// item, pk "LIST#current", with the JWS in "signed" and its "version". It
// uses dynamolite, not the AWS SDK, because qr-verify reads the list and
// its cold start cannot afford the SDK's DynamoDB client (see dynamolite).
type Store struct {
	db    *dynamolite.Client
	table string
}

// NewStore answers a Store over table.
func NewStore(db *dynamolite.Client, table string) *Store {
	return &Store{db: db, table: table}
}

// Put makes signed the current list, only if version is above the stored
// one's (a conditional write: concurrent publishers cannot roll back).
// version must be the list's own; the caller has just published it.
func (s *Store) Put(ctx context.Context, signed string, version int) error {
	err := s.db.PutItem(ctx, dynamolite.PutItemInput{
		TableName: s.table,
		Item: dynamolite.Item{
			"pk":      dynamolite.String(currentPK),
			"signed":  dynamolite.String(signed),
			"version": dynamolite.Int(int64(version)),
		},
		ConditionExpression:       "attribute_not_exists(pk) OR version < :v",
		ExpressionAttributeValues: dynamolite.Item{":v": dynamolite.Int(int64(version))},
	})
	if errors.Is(err, dynamolite.ErrConditionalCheckFailed) {
		return fmt.Errorf("%w (version %d)", ErrVersionNotNewer, version)
	}
	if err != nil {
		return fmt.Errorf("trust: put list: %w", err)
	}
	return nil
}

// Get answers the stored signed list, unverified, and its version.
func (s *Store) Get(ctx context.Context) (string, int, error) {
	out, err := s.db.GetItem(ctx, dynamolite.GetItemInput{TableName: s.table, Key: dynamolite.Item{"pk": dynamolite.String(currentPK)}})
	if err != nil {
		return "", 0, fmt.Errorf("trust: get list: %w", err)
	}
	if out.Item == nil {
		return "", 0, ErrNoList
	}
	_, hasVersion := out.Item["version"]
	signed, err := out.Item.GetString("signed")
	v, verr := out.Item.GetInt("version")
	if err = errors.Join(err, verr); err == nil && (signed == "" || !hasVersion) {
		err = errors.New("no signed list or no version")
	}
	if err != nil {
		return "", 0, fmt.Errorf("trust: stored list item is malformed: %w", err)
	}
	return signed, int(v), nil
}

// ListSource answers the current verified list, with its JWS.
type ListSource interface {
	Current(ctx context.Context) (SignedList, error)
}

// StaticSource is a ListSource that always answers the same list: for
// tests, benchmarks and gates fed by hand.
type StaticSource SignedList

// Current answers the list.
func (s StaticSource) Current(context.Context) (SignedList, error) { return SignedList(s), nil }

// SourceConfig configures a TableSource.
type SourceConfig struct {
	// Table is the trust table's name (TRUST_TABLE).
	Table string
	// Root is the pinned home root (TRUST_ROOT_JWK, a public JWK in JSON).
	Root ed25519.PublicKey
	// Refresh is how long a list is served from memory (TRUST_REFRESH,
	// a Go duration, default 5m).
	Refresh time.Duration
}

// SourceConfigFromEnv reads TRUST_TABLE, TRUST_ROOT_JWK and TRUST_REFRESH.
func SourceConfigFromEnv(env app.Env) (SourceConfig, error) {
	cfg := SourceConfig{Table: env("TRUST_TABLE")}
	if cfg.Table == "" {
		return SourceConfig{}, errors.New("TRUST_TABLE is not set")
	}
	root, err := ParseRootJWK([]byte(env("TRUST_ROOT_JWK")))
	if err != nil {
		return SourceConfig{}, fmt.Errorf("TRUST_ROOT_JWK: %w", err)
	}
	cfg.Root = root
	if cfg.Refresh, err = time.ParseDuration(env.Lookup("TRUST_REFRESH", DefaultSourceRefresh.String())); err != nil || cfg.Refresh <= 0 {
		return SourceConfig{}, fmt.Errorf("TRUST_REFRESH must be a positive duration such as 5m")
	}
	return cfg, nil
}

// TableSource is the ListSource of qr-verify: the list in the trust table,
// read on first use (never at init), verified against the pinned root and
// served from memory for Refresh. It is safe for concurrent use.
type TableSource struct {
	store  *Store
	cfg    SourceConfig
	logger *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	cur      *SignedList
	loadedAt time.Time
}

// NewTableSource answers a source over cfg.Table; it does no I/O.
func NewTableSource(db *dynamolite.Client, cfg SourceConfig, logger *slog.Logger) *TableSource {
	return &TableSource{store: NewStore(db, cfg.Table), cfg: cfg, logger: logger, now: time.Now}
}

// Current answers the cached list, reading the table when the cache is
// older than Refresh. A newer version replaces the cached one. When the read
// or the verification fails, it keeps answering the cached list while that
// is younger than its max offline age (the gates' rule), logging the
// failure; with no usable list it answers the error.
func (s *TableSource) Current(ctx context.Context) (SignedList, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cur != nil && now.Sub(s.loadedAt) < s.cfg.Refresh {
		return *s.cur, nil
	}
	fresh, err := s.load(ctx)
	if err != nil {
		if s.cur == nil || now.Sub(s.cur.List.IssuedAt) >= s.cur.List.MaxOfflineAge() {
			return SignedList{}, err
		}
		s.logger.WarnContext(ctx, "trust list refresh failed; serving the cached list", "error", err, "version", s.cur.List.Version)
	} else if s.cur == nil || fresh.List.Version > s.cur.List.Version {
		s.cur = &fresh
	}
	s.loadedAt = now
	return *s.cur, nil
}

func (s *TableSource) load(ctx context.Context) (SignedList, error) {
	signed, _, err := s.store.Get(ctx)
	if err != nil {
		return SignedList{}, err
	}
	l, err := VerifyList(signed, s.cfg.Root)
	if err != nil {
		return SignedList{}, err
	}
	return SignedList{Signed: signed, List: l}, nil
}
