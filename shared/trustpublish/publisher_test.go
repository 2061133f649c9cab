package trustpublish

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/trust"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

type memKeys struct {
	ring  *trust.KeyRing
	saves int
}

func (m *memKeys) Load(context.Context) (*trust.KeyRing, error) {
	b, _ := json.Marshal(m.ring) // a fresh copy, as a secret read would give
	var r trust.KeyRing
	return &r, json.Unmarshal(b, &r)
}
func (m *memKeys) Save(_ context.Context, r *trust.KeyRing) error {
	m.ring, m.saves = r, m.saves+1
	return nil
}

type memLists struct {
	signed  string
	version int
}

func (m *memLists) Put(_ context.Context, signed string, version int) error {
	if version <= m.version {
		return trust.ErrVersionNotNewer
	}
	m.signed, m.version = signed, version
	return nil
}

type memCache map[string]string

func (m memCache) GetPeer(_ context.Context, issuer string) (string, error) {
	if s, ok := m[issuer]; ok {
		return s, nil
	}
	return "", errors.New("not cached")
}
func (m memCache) PutPeer(_ context.Context, issuer, signed string) error {
	m[issuer] = signed
	return nil
}

func mustRing(t *testing.T, issuer string, made time.Time) *trust.KeyRing {
	t.Helper()
	r, err := trust.Generate(issuer, issuer, made, trust.DefaultSigningKeyLifetime)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func root(t *testing.T, r *trust.KeyRing) []byte {
	t.Helper()
	j, err := r.RootJWK()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(j)
	return b
}

func TestRunRotatesWhenDueAndPublishes(t *testing.T) {
	t.Parallel()
	made := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	keys := &memKeys{ring: mustRing(t, "CN-SH", made)}
	lists := &memLists{}
	p := New(keys, FilePeers(nil), lists, DefaultPolicy, quiet)

	// Ten days in, the 30-day key is far from its end: nothing rotates.
	if _, err := p.Run(context.Background(), made.Add(10*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if keys.saves != 0 || len(keys.ring.Keys) != 1 {
		t.Fatalf("rotated early: %d saves, %d keys", keys.saves, len(keys.ring.Keys))
	}
	// Within the overlap the successor is made, saved and published.
	now := made.Add(24 * 24 * time.Hour)
	version, err := p.Run(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if keys.saves != 1 || len(keys.ring.Keys) != 2 {
		t.Fatalf("not rotated: %d saves, %d keys", keys.saves, len(keys.ring.Keys))
	}
	pinned, err := trust.ParseRootJWK(root(t, keys.ring))
	if err != nil {
		t.Fatal(err)
	}
	l, err := trust.VerifyList(lists.signed, pinned)
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != version || len(l.Issuers) != 1 || len(l.Issuers[0].Keys) != 2 || !l.IssuedAt.Equal(now) {
		t.Errorf("published list: version %d (want %d), %+v", l.Version, version, l.Issuers)
	}
}

func TestHTTPPeersFallBackToTheirCachedList(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	peer := mustRing(t, "CN-HZ", now.Add(-time.Hour))
	signed, _, err := trust.Publish(peer, nil, 1, now, trust.DefaultMaxOfflineAge, trust.DefaultListRefresh)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"signed": signed})
	}))
	defer srv.Close()
	var pj Peer
	pj.Issuer, pj.URL = "CN-HZ", srv.URL
	if err := json.Unmarshal(root(t, peer), &pj.Root); err != nil {
		t.Fatal(err)
	}
	cache := memCache{}
	peers := HTTPPeers{Peers: []Peer{pj}, Client: srv.Client(), Cache: cache, Log: quiet}

	for _, tc := range []struct {
		name      string
		down      bool
		at        time.Time
		wantLists int
	}{
		{"peer up", false, now, 1},
		{"peer down, cache fresh", true, now.Add(time.Hour), 1},
		{"peer down, cache past its max offline age", true, now.Add(trust.DefaultMaxOfflineAge + time.Minute), 0},
	} {
		down.Store(tc.down)
		got, err := peers.Lists(context.Background(), tc.at)
		if err != nil || len(got) != tc.wantLists {
			t.Errorf("%s: %d lists, %v; want %d", tc.name, len(got), err, tc.wantLists)
		}
	}
	// A list signed by anyone but the pinned root is refused, not cached.
	impostor := mustRing(t, "CN-HZ", now.Add(-time.Hour))
	signed, _, _ = trust.Publish(impostor, nil, 2, now, trust.DefaultMaxOfflineAge, trust.DefaultListRefresh)
	down.Store(false)
	delete(cache, "CN-HZ")
	if got, _ := peers.Lists(context.Background(), now); len(got) != 0 || cache["CN-HZ"] != "" {
		t.Errorf("an impostor's list was taken: %d lists", len(got))
	}
}
