package trust

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
)

// trustTable answers a client of this test's DynamoDB Local and its copy of
// the template's TrustTable.
func trustTable(t *testing.T) (*dynamolite.Client, string) {
	t.Helper()
	db := dynamotest.New(t)
	name, ok := db.Tables["TrustTable"]
	if !ok {
		t.Fatal("template.yaml has no TrustTable")
	}
	cfg, err := dynamolite.ConfigFromEnv(mapEnv(map[string]string{"DYNAMODB_ENDPOINT": db.Endpoint}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dynamolite.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, name
}

func TestStorePutOnlyRaisesTheVersion(t *testing.T) {
	t.Parallel()
	db, table := trustTable(t)
	s := NewStore(db, table)
	ctx := t.Context()
	if _, _, err := s.Get(ctx); !errors.Is(err, ErrNoList) {
		t.Fatalf("Get on an empty table: %v, want ErrNoList", err)
	}
	steps := []struct {
		signed  string
		version int
		want    error
	}{
		{"v2", 2, nil},
		{"v1", 1, ErrVersionNotNewer},
		{"v2 again", 2, ErrVersionNotNewer},
		{"v3", 3, nil},
	}
	for _, st := range steps {
		if err := s.Put(ctx, st.signed, st.version); !errors.Is(err, st.want) {
			t.Errorf("Put(%s) = %v, want %v", st.signed, err, st.want)
		}
	}
	signed, v, err := s.Get(ctx)
	if err != nil || signed != "v3" || v != 3 {
		t.Errorf("Get = %q, %d, %v; want v3, 3", signed, v, err)
	}

	// Concurrent publishers: whatever the order, the highest version stays.
	var wg sync.WaitGroup
	for v := 10; v < 20; v++ {
		wg.Go(func() {
			if err := s.Put(ctx, "concurrent", v); err != nil && !errors.Is(err, ErrVersionNotNewer) {
				t.Errorf("Put(%d): %v", v, err)
			}
		})
	}
	wg.Wait()
	if _, v, err := s.Get(ctx); err != nil || v != 19 {
		t.Errorf("after concurrent puts: version %d, %v; want 19", v, err)
	}
}

func TestStoreGetRefusesMalformedItems(t *testing.T) {
	t.Parallel()
	db, table := trustTable(t)
	s := NewStore(db, table)
	pk := dynamolite.String(currentPK)
	for name, it := range map[string]dynamolite.Item{
		"no signed list":     {"pk": pk, "version": dynamolite.Int(1)},
		"no version":         {"pk": pk, "signed": dynamolite.String("jws")},
		"a version not an N": {"pk": pk, "signed": dynamolite.String("jws"), "version": dynamolite.String("1")},
		"a list not an S":    {"pk": pk, "signed": dynamolite.Int(7), "version": dynamolite.Int(1)},
	} {
		if err := db.PutItem(t.Context(), dynamolite.PutItemInput{TableName: table, Item: it}); err != nil {
			t.Fatal(err)
		}
		if signed, v, err := s.Get(t.Context()); err == nil {
			t.Errorf("%s: Get = %q, %d; want an error", name, signed, v)
		}
	}
}

// TestTableSource: read on first use, served from memory for Refresh,
// newer versions taken, a bad stored list survived on the cached one until
// that is too old.
func TestTableSource(t *testing.T) {
	t.Parallel()
	db, table := trustTable(t)
	ctx := t.Context()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	other := mustRing(t, "CN-SH", credential.EdDSA)
	store := NewStore(db, table)
	now := t0
	src := NewTableSource(db, SourceConfig{Table: table, Root: home.Root, Refresh: 5 * time.Minute}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	src.now = func() time.Time { return now }

	put := func(signer *KeyRing, version int, at time.Time) string {
		signed, _ := mustPublish(t, signer, version, at)
		if err := store.Put(ctx, signed, version); err != nil {
			t.Fatal(err)
		}
		return signed
	}
	if _, err := src.Current(ctx); !errors.Is(err, ErrNoList) {
		t.Fatalf("Current before any list: %v, want ErrNoList", err)
	}
	v1 := put(home, 1, t0)
	v2 := put(home, 2, t0)
	// rollback writes v1 around Store.Put's condition, as a careless script might.
	rollback := func() {
		err := db.PutItem(ctx, dynamolite.PutItemInput{TableName: table, Item: dynamolite.Item{
			"pk": dynamolite.String(currentPK), "signed": dynamolite.String(v1), "version": dynamolite.Int(1),
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		put         func()
		advance     time.Duration
		wantVersion int // 0: an error
	}{
		{name: "first use reads the table", wantVersion: 2},
		{name: "v3 stored, v2 still cached", put: func() { put(home, 3, t0.Add(time.Minute)) }, advance: 4 * time.Minute, wantVersion: 2},
		{name: "refresh due: v3", advance: time.Minute, wantVersion: 3},
		{name: "an older v1 written around Put: v3 kept", put: rollback, advance: 5 * time.Minute, wantVersion: 3},
		{name: "a forged v4 stored: v3 kept", put: func() { put(other, 4, t0.Add(time.Minute)) }, advance: 5 * time.Minute, wantVersion: 3},
		{name: "v3 too old to serve past a failure", advance: day, wantVersion: 0},
	}
	for _, st := range steps {
		if st.put != nil {
			st.put()
		}
		now = now.Add(st.advance)
		got, err := src.Current(ctx)
		if (err != nil) != (st.wantVersion == 0) || got.List.Version != st.wantVersion {
			t.Fatalf("%s: Current = version %d, %v; want version %d", st.name, got.List.Version, err, st.wantVersion)
		}
		if err != nil {
			continue
		}
		if _, err := VerifyList(got.Signed, home.Root); err != nil {
			t.Errorf("%s: the JWS answered does not verify: %v", st.name, err)
		}
		if _, ok := got.List.Lookup().LookupKey(kidOf(t, home.Keys[0])); !ok {
			t.Errorf("%s: the list has no keys to look up", st.name)
		}
		if st.wantVersion == 2 && got.Signed != v2 {
			t.Errorf("%s: JWS is not the stored v2", st.name)
		}
	}
}

func TestNewTableSourceDoesNoIO(t *testing.T) {
	t.Parallel()
	db, _ := trustTable(t)
	home := mustRing(t, "CN-SH", credential.EdDSA)
	src := NewTableSource(db, SourceConfig{Table: "no-such-table", Root: home.Root, Refresh: time.Minute}, slog.New(slog.DiscardHandler))
	if _, err := src.Current(t.Context()); err == nil {
		t.Error("Current over a missing table answered a list")
	}
}

func TestSourceConfigFromEnv(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	root := mustJSON(t, must(home.RootJWK()))
	private := mustJSON(t, must(credential.PrivateJWK(home.RootPrivate)))
	tests := []struct {
		name string
		env  map[string]string
		want SourceConfig
		err  bool
	}{
		{"defaults", map[string]string{"TRUST_TABLE": "t", "TRUST_ROOT_JWK": root}, SourceConfig{Table: "t", Root: home.Root, Refresh: 5 * time.Minute}, false},
		{"refresh set", map[string]string{"TRUST_TABLE": "t", "TRUST_ROOT_JWK": root, "TRUST_REFRESH": "30s"}, SourceConfig{Table: "t", Root: home.Root, Refresh: 30 * time.Second}, false},
		{"no table", map[string]string{"TRUST_ROOT_JWK": root}, SourceConfig{}, true},
		{"no root", map[string]string{"TRUST_TABLE": "t"}, SourceConfig{}, true},
		{"a private root", map[string]string{"TRUST_TABLE": "t", "TRUST_ROOT_JWK": private}, SourceConfig{}, true},
		{"a bad refresh", map[string]string{"TRUST_TABLE": "t", "TRUST_ROOT_JWK": root, "TRUST_REFRESH": "-1m"}, SourceConfig{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SourceConfigFromEnv(mapEnv(tt.env))
			if (err != nil) != tt.err {
				t.Fatalf("SourceConfigFromEnv = %v, want error %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
