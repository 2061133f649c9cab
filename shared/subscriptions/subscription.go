// Package subscriptions is agencies' event subscriptions: the API of
// /v1/subscriptions (create, list, change, delete, secret rotation, dead
// letters, replay) and the store the webhook delivery reads them from. See
// infra/delivery.md.
package subscriptions

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Statuses of a subscription. An agency sets active or paused; delivery
// sets disabled (a 410 from the endpoint), which the agency lifts by
// setting active again.
const (
	StatusActive   = "active"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

// Subscription is one agency's wish to receive some event types at an
// endpoint.
type Subscription struct {
	ID       string `dynamodbav:"id"`
	Org      string `dynamodbav:"org"`
	Endpoint string `dynamodbav:"endpoint"`
	// Types are exact type names or prefix.* patterns.
	Types  []string `dynamodbav:"types"`
	Status string   `dynamodbav:"status"`
	// DisabledReason says why delivery disabled it (status disabled only).
	DisabledReason string `dynamodbav:"disabled_reason,omitempty"`
	// Secrets sign deliveries: the current one first, then, after
	// rotations, previous ones until they expire.
	Secrets   []Secret  `dynamodbav:"secrets"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	UpdatedAt time.Time `dynamodbav:"updated_at"`
	// Version counts the changes; writes that read first are conditional
	// on it.
	Version int64 `dynamodbav:"version"`
}

// Secret is a signing key of a subscription (Standard Webhooks: HMAC-SHA256
// with the key's bytes).
type Secret struct {
	Key []byte `dynamodbav:"key"`
	// ExpiresAt is when a previous secret stops signing; zero for the
	// current one.
	ExpiresAt time.Time `dynamodbav:"expires_at"`
}

// Wants reports whether s's filter keeps events of eventType (whatever
// its status).
func (s Subscription) Wants(eventType string) bool {
	return slices.ContainsFunc(s.Types, func(t string) bool { return covers(t, eventType) })
}

// LiveSecrets are the secrets that sign a delivery at now: the current one
// and the previous ones not yet expired.
func (s Subscription) LiveSecrets(now time.Time) []Secret {
	var live []Secret
	for _, sec := range s.Secrets {
		if sec.ExpiresAt.IsZero() || now.Before(sec.ExpiresAt) {
			live = append(live, sec)
		}
	}
	return live
}

// SecretPrefix starts a secret's text, as Standard Webhooks does.
const SecretPrefix = "whsec_"

// FormatSecret is a key as shown to the agency, once: whsec_<base64>.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// newSecret makes a current secret of 32 random bytes.
func newSecret() Secret {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return Secret{Key: k}
}

// RotationOverlap is how long a previous secret keeps signing after a
// rotation, so that receivers can switch without losing deliveries.
const RotationOverlap = 24 * time.Hour

// MaxPreviousSecrets bounds the secrets still in their overlap: a rotation
// beyond it ends the oldest one's overlap early.
const MaxPreviousSecrets = 3

// rotate returns s's secrets after a rotation at now: a new current one,
// then the old current one expiring after RotationOverlap, then the
// previous ones still live, at most MaxPreviousSecrets in all.
func rotate(s Subscription, now time.Time) []Secret {
	next := []Secret{newSecret()}
	for _, sec := range s.LiveSecrets(now) {
		if sec.ExpiresAt.IsZero() {
			sec.ExpiresAt = now.Add(RotationOverlap)
		}
		next = append(next, sec)
	}
	slices.SortStableFunc(next[1:], func(a, b Secret) int { return b.ExpiresAt.Compare(a.ExpiresAt) })
	return next[:min(len(next), 1+MaxPreviousSecrets)]
}

// idEncoding keeps byte order in text order, so that time-ordered ids sort
// by creation.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newID is prefix, "_" and a UUID v7 in 26 base32 characters that sort
// by creation time.
func newID(prefix string) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new %s id: %w", prefix, err)
	}
	return prefix + "_" + idEncoding.EncodeToString(u[:]), nil
}

// validID reports whether id can be a subscription id, before any lookup.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "sub_")
	if !ok || len(rest) != 26 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}

// Limits of a subscription's fields.
const (
	MaxEndpointLength = 2048
	MaxTypes          = 20
)

// errEndpoint* say what is wrong with an endpoint; their text is the
// answer's detail.
var (
	errEndpointInvalid = errors.New("must be an absolute https URL with a host and no credentials or fragment")
	errEndpointPrivate = errors.New("must not be a loopback, private or link-local address")
)

// CheckEndpoint checks a webhook endpoint: an absolute https URL whose host
// is not a loopback, private or link-local address. With allowLoopback
// (local runs), http and https to 127.0.0.1, ::1 or localhost are allowed
// too. Delivery must still refuse to connect to such addresses, which a
// host name can resolve to.
func CheckEndpoint(raw string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > MaxEndpointLength || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.Hostname() == "" {
		return errEndpointInvalid
	}
	host := strings.ToLower(u.Hostname())
	loopback := host == "localhost" || strings.HasSuffix(host, ".localhost")
	addr, err := netip.ParseAddr(host)
	isIP := err == nil
	if isIP {
		loopback = addr.IsLoopback()
	}
	switch {
	case loopback && allowLoopback:
		if u.Scheme != "https" && u.Scheme != "http" {
			return errEndpointInvalid
		}
		return nil
	case u.Scheme != "https":
		return errEndpointInvalid
	case loopback:
		return errEndpointPrivate
	case isIP && !publicIP(addr):
		return errEndpointPrivate
	}
	return nil
}

// publicIP reports whether addr is a global unicast address outside the
// private ranges.
func publicIP(addr netip.Addr) bool {
	ip := net.IP(addr.Unmap().AsSlice())
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}

// CheckTypes checks a subscription's filter: 1 to MaxTypes valid type names
// or patterns; it answers them without duplicates, in the order given.
func CheckTypes(types []string) ([]string, error) {
	if len(types) == 0 || len(types) > MaxTypes {
		return nil, fmt.Errorf("must list 1 to %d event types", MaxTypes)
	}
	var out []string
	for i, t := range types {
		if !ValidType(t) {
			return nil, fmt.Errorf("types[%d] is neither a versioned type name (city.holder.enrolled.v1) nor a prefix pattern (city.holder.*)", i)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
