// Package trustpublish keeps the trust list fresh: every hour it rotates the
// home issuer's signing keys when the newest nears its end, saves the rings,
// fetches the peer cities' lists, and signs and stores a new list for
// qr-verify and the gates. Without it gates would refuse offline acceptance
// once the list passed its max offline age (24 h).
package trustpublish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/citycode/citycode/shared/trust"
)

// Keys keeps the home issuer's key ring.
type Keys interface {
	// Load answers the full ring, root included.
	Load(ctx context.Context) (*trust.KeyRing, error)
	// Save stores the full ring, and the signing-only copy qr-issue reads.
	Save(ctx context.Context, full *trust.KeyRing) error
}

// Peers answers the verified lists of the other cities whose codes this
// city accepts.
type Peers interface {
	Lists(ctx context.Context, now time.Time) ([]trust.List, error)
}

// ListStore stores the signed list (trust.Store does, conditionally on the
// version being newer).
type ListStore interface {
	Put(ctx context.Context, signed string, version int) error
}

// Policy is how keys rotate and how long a list lives.
type Policy struct {
	KeyLifetime, RotationOverlap time.Duration
	MaxOfflineAge, Refresh       time.Duration
}

// DefaultPolicy is the one infra/credential.md describes.
var DefaultPolicy = Policy{
	KeyLifetime: trust.DefaultSigningKeyLifetime, RotationOverlap: trust.DefaultRotationOverlap,
	MaxOfflineAge: trust.DefaultMaxOfflineAge, Refresh: trust.DefaultListRefresh,
}

// Publisher runs one publication.
type Publisher struct {
	keys   Keys
	peers  Peers
	lists  ListStore
	policy Policy
	log    *slog.Logger
}

// New returns a Publisher.
func New(keys Keys, peers Peers, lists ListStore, policy Policy, log *slog.Logger) *Publisher {
	return &Publisher{keys: keys, peers: peers, lists: lists, policy: policy, log: log}
}

// Run rotates, publishes and stores the list as of now; it answers the
// list's version (now in Unix seconds, so every run's list is newer).
func (p *Publisher) Run(ctx context.Context, now time.Time) (int, error) {
	ring, err := p.keys.Load(ctx)
	if err != nil {
		return 0, fmt.Errorf("load keys: %w", err)
	}
	rotated, err := ring.Rotate(now, p.policy.KeyLifetime, p.policy.RotationOverlap)
	if err != nil {
		return 0, fmt.Errorf("rotate: %w", err)
	}
	if rotated {
		if err := p.keys.Save(ctx, ring); err != nil {
			return 0, fmt.Errorf("save rotated keys: %w", err)
		}
		p.log.InfoContext(ctx, "signing keys rotated", "issuer", ring.Issuer, "keys", len(ring.Keys))
	}
	peers, err := p.peers.Lists(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("peer lists: %w", err)
	}
	version := int(now.Unix())
	signed, _, err := trust.Publish(ring, peers, version, now, p.policy.MaxOfflineAge, p.policy.Refresh)
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if err := p.lists.Put(ctx, signed, version); err != nil && !errors.Is(err, trust.ErrVersionNotNewer) {
		return 0, fmt.Errorf("store list: %w", err)
	}
	p.log.InfoContext(ctx, "trust list published", "version", version, "peers", len(peers))
	return version, nil
}
