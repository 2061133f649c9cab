package trustpublish

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/trust"
)

// FileKeys keeps the ring in a file, for local runs: the same file serves
// as qr-issue's SIGNING_KEYS_FILE there.
type FileKeys string

// Load reads the ring.
func (f FileKeys) Load(context.Context) (*trust.KeyRing, error) {
	return trust.ReadKeyRingFile(string(f))
}

// Save writes the ring.
func (f FileKeys) Save(_ context.Context, full *trust.KeyRing) error {
	return trust.WriteKeyRingFile(string(f), full)
}

// FilePeers are peer files (trust.PeerFile), for local runs.
type FilePeers []string

// Lists reads and verifies every peer file.
func (f FilePeers) Lists(context.Context, time.Time) ([]trust.List, error) {
	var lists []trust.List
	for _, path := range f {
		l, err := trust.ReadPeerFile(path)
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	return lists, nil
}

// Peer is a city whose codes this city accepts: where its trust list is
// served and the root it must be signed by (agreed out of band).
type Peer struct {
	Issuer string         `json:"issuer"`
	URL    string         `json:"url"`
	Root   credential.JWK `json:"root"`
}

// PeerCache keeps each peer's last good signed list, so that a peer's
// outage does not drop its residents' keys at once.
type PeerCache interface {
	GetPeer(ctx context.Context, issuer string) (string, error)
	PutPeer(ctx context.Context, issuer, signed string) error
}

// HTTPPeers fetches each peer's GET /v1/trust-list, verifies it against the
// peer's pinned root, and falls back to the cached copy while that is
// younger than its own max offline age.
type HTTPPeers struct {
	Peers  []Peer
	Client *http.Client
	Cache  PeerCache
	Log    *slog.Logger
}

// Lists answers every peer's list that can be had.
func (h HTTPPeers) Lists(ctx context.Context, now time.Time) ([]trust.List, error) {
	var lists []trust.List
	for _, peer := range h.Peers {
		root, err := rootKey(peer.Root)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", peer.Issuer, err)
		}
		l, err := h.fetch(ctx, peer, root)
		if err == nil {
			if err := h.Cache.PutPeer(ctx, peer.Issuer, l.signed); err != nil {
				h.Log.WarnContext(ctx, "peer list not cached", "issuer", peer.Issuer, "error", err)
			}
			lists = append(lists, l.List)
			continue
		}
		h.Log.ErrorContext(ctx, "peer list unavailable; using the cached one", "issuer", peer.Issuer, "error", err)
		cached, cerr := h.Cache.GetPeer(ctx, peer.Issuer)
		if cerr != nil {
			continue
		}
		if l, err := trust.ImportPeer(cached, root); err == nil && now.Sub(l.IssuedAt) < l.MaxOfflineAge() {
			lists = append(lists, l)
		}
	}
	return lists, nil
}

type fetched struct {
	trust.List
	signed string
}

func (h HTTPPeers) fetch(ctx context.Context, peer Peer, root ed25519.PublicKey) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer.URL, nil)
	if err != nil {
		return fetched{}, err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fetched{}, fmt.Errorf("GET %s: %s", peer.URL, resp.Status)
	}
	var body struct {
		Signed string `json:"signed"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return fetched{}, fmt.Errorf("GET %s: %w", peer.URL, err)
	}
	l, err := trust.ImportPeer(body.Signed, root)
	if err != nil {
		return fetched{}, err
	}
	return fetched{List: l, signed: body.Signed}, nil
}

func rootKey(j credential.JWK) (ed25519.PublicKey, error) {
	pub, err := j.PublicKey()
	if err != nil {
		return nil, err
	}
	root, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("a root key must be Ed25519")
	}
	return root, nil
}
