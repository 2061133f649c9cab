// Package trust holds an issuer's keys and the signed trust list of
// infra/credential.md: a long-lived Ed25519 root per issuer certifies
// short-lived signing keys; the home issuer's root signs a list of every
// trusted issuer (its own and imported peer cities) with their keys and
// validity windows, so gates verify codes offline. It also loads the keys and
// the current list for the functions, and stores the list in DynamoDB.
package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/credential"
)

// Defaults of infra/credential.md.
const (
	// DefaultSigningKeyLifetime is how long a signing key signs (SIGNING_KEY_LIFETIME).
	DefaultSigningKeyLifetime = 30 * 24 * time.Hour
	// DefaultRotationOverlap is how long before the newest key ends its
	// successor is made and published (ROTATION_OVERLAP).
	DefaultRotationOverlap = 7 * 24 * time.Hour
	// RetiredKeyGrace is how long a key stays in the ring, and so in the
	// list, after its window ends. Codes live 60 s, but an offline gate
	// uploads what it scanned up to 72 h later (transit.MaxAge), and those
	// codes must still verify then: 72 h and an hour to spare. A transit
	// test holds the two together.
	RetiredKeyGrace = 73 * time.Hour
)

var (
	// ErrNoSigningKey means no signing key's window covers the time asked.
	ErrNoSigningKey = errors.New("trust: no signing key is valid now")
	// ErrNoRootKey means the ring holds only the root's public half (a
	// signing-only ring), so it cannot certify keys or sign lists.
	ErrNoRootKey = errors.New("trust: the key ring has no private root key")
)

// KeyRing is one issuer's private key material: its root and its signing
// keys. Its JSON (MarshalJSON) is what lives in Secrets Manager and in
// .local/keys/.
type KeyRing struct {
	// Issuer is the issuer id codes carry, e.g. "CN-SH".
	Issuer string
	// Name is the issuer's display name, e.g. "Shanghai".
	Name string
	// Root is the public root key that certifies the signing keys.
	Root ed25519.PublicKey
	// RootPrivate is the private root key; nil in a signing-only ring
	// (SigningOnly), which is what the issue function is given.
	RootPrivate ed25519.PrivateKey
	// Keys are the signing keys, ordered by NotBefore.
	Keys []SigningKey
}

// SigningKey is one certified signing key.
type SigningKey struct {
	// Private is an ed25519.PrivateKey or a P-256 *ecdsa.PrivateKey.
	Private crypto.Signer
	// NotBefore and NotAfter bound the window in which the key signs codes.
	NotBefore, NotAfter time.Time
	// Cert is the root's compact JWS over the key's public JWK, issuer and window.
	Cert string
}

// NewKeyRing makes a ring with a fresh root and one signing key of alg
// (credential.EdDSA or credential.ES256) valid for lifetime from now.
func NewKeyRing(issuer, name string, alg credential.Alg, now time.Time, lifetime time.Duration) (*KeyRing, error) {
	if issuer == "" {
		return nil, errors.New("trust: issuer id is empty")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: root key: %w", err)
	}
	r := &KeyRing{Issuer: issuer, Name: name, Root: pub, RootPrivate: priv}
	if err := r.addKey(alg, now, lifetime); err != nil {
		return nil, err
	}
	return r, nil
}

// Generate makes a ring with Ed25519 signing keys: NewKeyRing with credential.EdDSA.
func Generate(issuer, name string, now time.Time, lifetime time.Duration) (*KeyRing, error) {
	return NewKeyRing(issuer, name, credential.EdDSA, now, lifetime)
}

// Rotate keeps the ring current at now. It drops keys whose window ended
// more than RetiredKeyGrace ago and, when the newest key ends within
// overlap, adds its successor (same algorithm) for lifetime. The successor's
// window starts when the newest key's ends (or now, if that is past), so it
// is certified and published overlap ahead of the first code it signs.
// Rotate answers whether the ring changed; run it daily.
func (r *KeyRing) Rotate(now time.Time, lifetime, overlap time.Duration) (bool, error) {
	if lifetime <= overlap {
		return false, fmt.Errorf("trust: key lifetime %v must exceed the rotation overlap %v", lifetime, overlap)
	}
	before := len(r.Keys)
	r.Keys = slices.DeleteFunc(r.Keys, func(k SigningKey) bool { return !now.Before(k.NotAfter.Add(RetiredKeyGrace)) })
	changed := len(r.Keys) != before
	alg := credential.EdDSA
	start := now
	if n := len(r.Keys); n > 0 {
		newest := r.Keys[n-1]
		if newest.NotAfter.Sub(now) > overlap {
			return changed, nil
		}
		if _, ok := newest.Private.(*ecdsa.PrivateKey); ok {
			alg = credential.ES256
		}
		if newest.NotAfter.After(now) {
			start = newest.NotAfter
		}
	}
	if err := r.addKey(alg, start, lifetime); err != nil {
		return changed, err
	}
	return true, nil
}

// Signer answers a signer for the newest key whose window covers now.
func (r *KeyRing) Signer(now time.Time) (*credential.Signer, error) {
	for i := len(r.Keys) - 1; i >= 0; i-- {
		if k := r.Keys[i]; !now.Before(k.NotBefore) && now.Before(k.NotAfter) {
			return credential.NewSigner(k.Private)
		}
	}
	return nil, fmt.Errorf("%w (issuer %s, %s)", ErrNoSigningKey, r.Issuer, now.UTC().Format(time.RFC3339))
}

// SigningOnly answers a copy of the ring without the private root: all the
// issue function needs, and all its secret should hold.
func (r *KeyRing) SigningOnly() *KeyRing {
	c := *r
	c.RootPrivate = nil
	c.Keys = slices.Clone(r.Keys)
	return &c
}

// RootJWK answers the public JWK of the root: what verifiers pin.
func (r *KeyRing) RootJWK() (credential.JWK, error) {
	return credential.PublicJWK(r.Root)
}

// addKey certifies a fresh key of alg for [start, start+lifetime).
func (r *KeyRing) addKey(alg credential.Alg, start time.Time, lifetime time.Duration) error {
	if r.RootPrivate == nil {
		return ErrNoRootKey
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case credential.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case credential.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return fmt.Errorf("trust: signing algorithm %v is not allowed", alg)
	}
	if err != nil {
		return fmt.Errorf("trust: signing key: %w", err)
	}
	k := SigningKey{Private: priv, NotBefore: start.UTC().Truncate(time.Second)}
	k.NotAfter = k.NotBefore.Add(lifetime)
	jwk, err := credential.PublicJWK(priv.Public())
	if err != nil {
		return err
	}
	if k.Cert, err = signCert(r.RootPrivate, r.Issuer, jwk, k.NotBefore, k.NotAfter); err != nil {
		return err
	}
	r.Keys = append(r.Keys, k)
	return nil
}

// public answers the ring's entry in a trust list: public keys only.
func (r *KeyRing) public() (Issuer, error) {
	root, err := r.RootJWK()
	if err != nil {
		return Issuer{}, err
	}
	iss := Issuer{Issuer: r.Issuer, Name: r.Name, Root: root, Keys: make([]CertifiedKey, 0, len(r.Keys))}
	for _, k := range r.Keys {
		jwk, err := credential.PublicJWK(k.Private.Public())
		if err != nil {
			return Issuer{}, err
		}
		iss.Keys = append(iss.Keys, CertifiedKey{JWK: jwk, NotBefore: k.NotBefore.Unix(), NotAfter: k.NotAfter.Unix(), Cert: k.Cert})
	}
	return iss, nil
}

// MarshalJSON answers the ring as an issuer entry of the trust list whose
// JWKs carry their private members (d). It has a value receiver so that a
// KeyRing marshals the same way as a *KeyRing.
func (r KeyRing) MarshalJSON() ([]byte, error) {
	iss, err := r.public()
	if err != nil {
		return nil, err
	}
	if r.RootPrivate != nil {
		if iss.Root, err = credential.PrivateJWK(r.RootPrivate); err != nil {
			return nil, err
		}
	}
	for i, k := range r.Keys {
		if iss.Keys[i].JWK, err = credential.PrivateJWK(k.Private); err != nil {
			return nil, err
		}
	}
	return json.Marshal(iss)
}

// UnmarshalJSON reads a ring written by MarshalJSON, checking that every
// private key matches its public members and every cert verifies against
// the root, so a damaged secret fails at load rather than at signing.
func (r *KeyRing) UnmarshalJSON(b []byte) error {
	var iss Issuer
	if err := json.Unmarshal(b, &iss); err != nil {
		return fmt.Errorf("trust: key ring: %w", err)
	}
	if iss.Issuer == "" {
		return errors.New("trust: key ring: issuer id is empty")
	}
	ring := KeyRing{Issuer: iss.Issuer, Name: iss.Name}
	if iss.Root.D != "" {
		priv, err := iss.Root.PrivateKey()
		if err != nil {
			return fmt.Errorf("trust: key ring root: %w", err)
		}
		edPriv, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return errors.New("trust: key ring root: not an Ed25519 key")
		}
		ring.RootPrivate, ring.Root = edPriv, edPriv.Public().(ed25519.PublicKey)
	} else {
		root, err := rootKey(iss.Root)
		if err != nil {
			return fmt.Errorf("trust: key ring root: %w", err)
		}
		ring.Root = root
	}
	for _, ck := range iss.Keys {
		if ck.D == "" {
			return fmt.Errorf("trust: key ring: signing key %s has no private part", ck.KID)
		}
		priv, err := ck.PrivateKey()
		if err != nil {
			return fmt.Errorf("trust: key ring: signing key %s: %w", ck.KID, err)
		}
		pub := ck
		pub.D = ""
		key, err := verifyCert(iss.Issuer, ring.Root, pub)
		if err != nil {
			return fmt.Errorf("trust: key ring: %w", err)
		}
		ring.Keys = append(ring.Keys, SigningKey{Private: priv, NotBefore: key.NotBefore, NotAfter: key.NotAfter, Cert: ck.Cert})
	}
	slices.SortStableFunc(ring.Keys, func(a, b SigningKey) int { return a.NotBefore.Compare(b.NotBefore) })
	*r = ring
	return nil
}
