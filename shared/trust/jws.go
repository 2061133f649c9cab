package trust

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/citycode/citycode/shared/credential"
)

// JWS header "typ" values: a root's certificate of a signing key, and a
// signed trust list. Each is checked, so one can never pass for the other.
const (
	certType = "key-cert+jwt"
	listType = "trust-list+jwt"
)

// certClaims is the payload of a cert: iss, nbf, exp and the public JWK.
type certClaims struct {
	jwt.RegisteredClaims
	Key credential.JWK `json:"jwk"`
}

// rootKID answers the base64url kid of a root key, as JWS headers carry it.
func rootKID(root ed25519.PublicKey) (string, error) {
	kid, err := credential.KIDFor(root)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(kid[:]), nil
}

// sign answers the compact JWS of claims by root, with typ and the root's kid.
func sign(root ed25519.PrivateKey, typ string, claims jwt.Claims) (string, error) {
	kid, err := rootKID(root.Public().(ed25519.PublicKey))
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"], t.Header["kid"] = typ, kid
	s, err := t.SignedString(root)
	if err != nil {
		return "", fmt.Errorf("trust: sign %s: %w", typ, err)
	}
	return s, nil
}

// verify checks a compact JWS of type typ against root and decodes its
// payload into claims.
func verify(signed string, root ed25519.PublicKey, typ string, claims jwt.Claims) error {
	kid, err := rootKID(root)
	if err != nil {
		return err
	}
	// EdDSA only (the allow-list: never the token's own choice), strict
	// base64url, and no JWT time checks: a cert or list is judged by the
	// trust-list rules, not by JWT expiry.
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	t, err := p.ParseWithClaims(signed, claims, func(*jwt.Token) (any, error) { return root, nil })
	if err != nil {
		return err
	}
	if t.Header["typ"] != typ {
		return fmt.Errorf("typ %v, want %q", t.Header["typ"], typ)
	}
	if t.Header["kid"] != kid {
		return fmt.Errorf("kid %v is not the root's %q", t.Header["kid"], kid)
	}
	return nil
}

func signCert(root ed25519.PrivateKey, issuer string, key credential.JWK, notBefore, notAfter time.Time) (string, error) {
	return sign(root, certType, certClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, NotBefore: jwt.NewNumericDate(notBefore), ExpiresAt: jwt.NewNumericDate(notAfter)},
		Key:              key,
	})
}

// verifyCert checks a listed public key: its cert verifies against the
// issuer's root and certifies exactly this JWK, issuer and window. It
// answers the key for credential.Verify.
func verifyCert(issuer string, root ed25519.PublicKey, k CertifiedKey) (credential.Key, error) {
	if k.D != "" {
		return credential.Key{}, fmt.Errorf("key %s: private key material", k.KID)
	}
	var c certClaims
	if err := verify(k.Cert, root, certType, &c); err != nil {
		return credential.Key{}, fmt.Errorf("key %s: cert: %w", k.KID, err)
	}
	switch {
	case c.Issuer != issuer:
		return credential.Key{}, fmt.Errorf("key %s: cert names issuer %q, not %q", k.KID, c.Issuer, issuer)
	case c.Key != k.JWK:
		return credential.Key{}, fmt.Errorf("key %s: cert certifies another key", k.KID)
	case c.NotBefore == nil || c.ExpiresAt == nil || c.NotBefore.Unix() != k.NotBefore || c.ExpiresAt.Unix() != k.NotAfter:
		return credential.Key{}, fmt.Errorf("key %s: cert window differs from the listed nbf/exp", k.KID)
	case k.NotBefore >= k.NotAfter:
		return credential.Key{}, fmt.Errorf("key %s: empty validity window", k.KID)
	}
	key, err := k.Key(issuer, time.Unix(k.NotBefore, 0).UTC(), time.Unix(k.NotAfter, 0).UTC())
	if err != nil {
		return credential.Key{}, fmt.Errorf("key %s: %w", k.KID, err)
	}
	return key, nil
}

// rootKey answers the Ed25519 public key of a root JWK, which must be public.
func rootKey(j credential.JWK) (ed25519.PublicKey, error) {
	if j.D != "" {
		return nil, errors.New("root JWK holds private key material")
	}
	pub, err := j.PublicKey()
	if err != nil {
		return nil, err
	}
	root, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("root key is not Ed25519")
	}
	return root, nil
}

// ParseRootJWK answers the Ed25519 root key of a public JWK in JSON, as
// TRUST_ROOT_JWK and the gates' pinned root hold it.
func ParseRootJWK(text []byte) (ed25519.PublicKey, error) {
	var j credential.JWK
	if err := json.Unmarshal(text, &j); err != nil {
		return nil, fmt.Errorf("trust: root JWK: %w", err)
	}
	root, err := rootKey(j)
	if err != nil {
		return nil, fmt.Errorf("trust: root JWK: %w", err)
	}
	return root, nil
}
