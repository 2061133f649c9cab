package trust

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/citycode/citycode/shared/credential"
)

// Defaults of the trust list.
const (
	// DefaultMaxOfflineAge is how long gates may use a list offline.
	DefaultMaxOfflineAge = 24 * time.Hour
	// DefaultListRefresh is how far after issued_at next_update is.
	DefaultListRefresh = time.Hour
)

// ErrInvalidList wraps every reason VerifyList refuses a list.
var ErrInvalidList = errors.New("trust: invalid trust list")

// List is the trust list: every trusted issuer with its root and keys.
// Only a List answered by VerifyList or Publish has keys to look up.
type List struct {
	Version              int       `json:"version"`
	IssuedAt             time.Time `json:"issued_at"`
	NextUpdate           time.Time `json:"next_update"`
	MaxOfflineAgeSeconds int64     `json:"max_offline_age_seconds"`
	Issuers              []Issuer  `json:"issuers"`

	// signedBy is the root VerifyList checked the list against.
	signedBy ed25519.PublicKey
	// keys are the verified keys of every issuer, by kid.
	keys credential.KeySet
}

// Issuer is one issuer's entry in the list.
type Issuer struct {
	Issuer string         `json:"issuer"`
	Name   string         `json:"name"`
	Root   credential.JWK `json:"root"`
	Keys   []CertifiedKey `json:"keys"`
}

// CertifiedKey is a signing key's JWK with its window (seconds since the
// epoch; the key signs codes issued at t when nbf <= t < exp) and the
// issuer root's cert over both.
type CertifiedKey struct {
	credential.JWK
	NotBefore int64  `json:"nbf"`
	NotAfter  int64  `json:"exp"`
	Cert      string `json:"cert"`
}

// SignedList is a verified list with the compact JWS it was verified from:
// the body of GET /v1/trust-list.
type SignedList struct {
	Signed string `json:"signed"`
	List   List   `json:"list"`
}

// listClaims makes the list a JWT payload; it has no registered claims.
type listClaims struct {
	List
	jwt.RegisteredClaims
}

// MaxOfflineAge answers max_offline_age_seconds as a duration.
func (l List) MaxOfflineAge() time.Duration {
	return time.Duration(l.MaxOfflineAgeSeconds) * time.Second
}

// Lookup answers the list's keys by kid, each with its issuer, algorithm
// and window: what credential.Verify checks a code against.
func (l List) Lookup() credential.KeyLookup { return l.keys }

// Publish signs a list of the home ring's public keys and the own issuer of
// each peer list (a list VerifyList answered against that peer's pinned
// root; the peer's own imports are not taken over: trust is not
// transitive). It refuses what VerifyList would, such as a peer with the
// home issuer's id. It answers the compact JWS and the list as VerifyList
// reads it.
func Publish(home *KeyRing, peers []List, version int, now time.Time, maxOfflineAge, refresh time.Duration) (string, List, error) {
	switch {
	case home.RootPrivate == nil:
		return "", List{}, ErrNoRootKey
	case version < 1:
		return "", List{}, errors.New("trust: list version must be at least 1")
	case maxOfflineAge < time.Second || refresh <= 0:
		return "", List{}, errors.New("trust: max offline age and refresh must be positive")
	}
	own, err := home.public()
	if err != nil {
		return "", List{}, err
	}
	l := List{
		Version:              version,
		IssuedAt:             now.UTC().Truncate(time.Second),
		MaxOfflineAgeSeconds: int64(maxOfflineAge / time.Second),
		Issuers:              []Issuer{own},
	}
	l.NextUpdate = l.IssuedAt.Add(refresh)
	for _, p := range peers {
		iss, err := p.own()
		if err != nil {
			return "", List{}, fmt.Errorf("trust: peer list: %w", err)
		}
		l.Issuers = append(l.Issuers, iss)
	}
	signed, err := sign(home.RootPrivate, listType, listClaims{List: l})
	if err != nil {
		return "", List{}, err
	}
	verified, err := VerifyList(signed, home.Root)
	if err != nil {
		return "", List{}, err
	}
	return signed, verified, nil
}

// own answers the entry of the issuer whose root signed the list.
func (l List) own() (Issuer, error) {
	if l.signedBy == nil {
		return Issuer{}, errors.New("not verified")
	}
	for _, iss := range l.Issuers {
		if root, err := rootKey(iss.Root); err == nil && root.Equal(l.signedBy) {
			return iss, nil
		}
	}
	return Issuer{}, errors.New("no issuer with the signing root")
}

// VerifyList checks a signed list against the pinned root: the JWS (EdDSA
// only, typ trust-list+jwt, kid the root's), then the list itself: one
// issuer with the pinned root, unique issuer ids, roots and kids, and every
// key's cert against its issuer's root. Any fault refuses the whole list: it
// was signed as a unit, so a bad cert means a broken or tampered publisher,
// and a gate keeps its previous list rather than quietly losing an issuer.
func VerifyList(signed string, root ed25519.PublicKey) (List, error) {
	var c listClaims
	if err := verify(signed, root, listType, &c); err != nil {
		return List{}, fmt.Errorf("%w: %w", ErrInvalidList, err)
	}
	l := c.List
	if err := l.check(root); err != nil {
		return List{}, fmt.Errorf("%w: %w", ErrInvalidList, err)
	}
	return l, nil
}

// check validates a decoded list and indexes its keys.
func (l *List) check(root ed25519.PublicKey) error {
	switch {
	case l.Version < 1:
		return fmt.Errorf("version %d", l.Version)
	case l.IssuedAt.IsZero() || !l.NextUpdate.After(l.IssuedAt):
		return errors.New("issued_at and next_update missing or out of order")
	case l.MaxOfflineAgeSeconds < 1:
		return errors.New("max_offline_age_seconds must be positive")
	}
	l.keys = credential.KeySet{}
	ids := map[string]bool{}
	var roots []ed25519.PublicKey
	for _, iss := range l.Issuers {
		if iss.Issuer == "" || ids[iss.Issuer] {
			return fmt.Errorf("issuer id %q empty or repeated", iss.Issuer)
		}
		ids[iss.Issuer] = true
		r, err := rootKey(iss.Root)
		if err != nil {
			return fmt.Errorf("issuer %s: %w", iss.Issuer, err)
		}
		for _, seen := range roots {
			if seen.Equal(r) {
				return fmt.Errorf("issuer %s: root shared with another issuer", iss.Issuer)
			}
		}
		roots = append(roots, r)
		if r.Equal(root) {
			l.signedBy = root
		}
		for _, ck := range iss.Keys {
			k, err := verifyCert(iss.Issuer, r, ck)
			if err != nil {
				return fmt.Errorf("issuer %s: %w", iss.Issuer, err)
			}
			if _, dup := l.keys[k.KID]; dup {
				return fmt.Errorf("issuer %s: kid %s listed twice", iss.Issuer, ck.KID)
			}
			l.keys[k.KID] = k
		}
	}
	if l.signedBy == nil {
		return errors.New("no issuer has the signing root")
	}
	return nil
}

// ImportPeer verifies a peer city's own signed list against the root the
// operator pinned for it; the result can go to Publish.
func ImportPeer(signed string, pinnedPeerRoot ed25519.PublicKey) (List, error) {
	return VerifyList(signed, pinnedPeerRoot)
}
