// Package devauth is the local run's identity provider: it issues ES256 JWTs
// for any subject and scopes (scripts/devtoken) and verifies them the way
// API Gateway's JWT authorizer does (the local API server). Its key pair is
// generated on first use and kept under .local/devauth; it is for local
// development only.
package devauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The issuer and audience of every dev token.
const (
	Issuer   = "https://citycode.local/devauth"
	Audience = "citycode-local"
)

// Leeway is the clock skew Verify tolerates on exp, nbf and iat.
const Leeway = 30 * time.Second

const keyFile = "signing-key.pem"

// Authority issues and verifies dev tokens with one key pair.
type Authority struct {
	key *ecdsa.PrivateKey
	kid string
	now func() time.Time
}

// Open loads the key pair kept in dir, generating it (PEM, mode 0600) if
// there is none. Processes opening the same dir at once end up with the
// same key.
func Open(dir string) (*Authority, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, err = create(dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("devauth key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("devauth key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devauth key %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("devauth key %s: not an ECDSA P-256 key", path)
	}
	return New(key)
}

// create writes a new key to path, unless another process got there first:
// the key goes to a temporary file that is then linked into place, which
// fails if path exists. Either way it returns the key now at path.
func create(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, keyFile+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := errors.Join(pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return os.ReadFile(path)
}

// New returns an Authority for key, which must be an ECDSA P-256 key.
func New(key *ecdsa.PrivateKey) (*Authority, error) {
	jwk, err := publicJWK(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	// RFC 7638: the SHA-256 of the required members in lexical order.
	thumb, err := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{jwk.Crv, jwk.Kty, jwk.X, jwk.Y})
	if err != nil {
		return nil, fmt.Errorf("devauth thumbprint: %w", err)
	}
	sum := sha256.Sum256(thumb)
	return &Authority{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:]), now: time.Now}, nil
}

// KeyID is the key's kid: its RFC 7638 JWK thumbprint.
func (a *Authority) KeyID() string { return a.kid }

// Issue signs a token for sub with the given scopes (the space-separated
// scope claim, left out when there are none), org (the org claim, when not empty) and lifetime.
func (a *Authority) Issue(sub string, scopes []string, org string, ttl time.Duration) (string, error) {
	if sub == "" {
		return "", errors.New("devauth: empty subject")
	}
	if ttl <= 0 {
		return "", errors.New("devauth: lifetime must be positive")
	}
	now := a.now().Truncate(time.Second)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("devauth jti: %w", err)
	}
	claims := jwt.MapClaims{
		"iss": Issuer,
		"aud": Audience,
		"sub": sub,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"jti": hex.EncodeToString(jti),
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if org != "" {
		claims["org"] = org
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = a.kid
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("devauth sign: %w", err)
	}
	return s, nil
}

// Claims are a verified token's claims as decoded from its payload; numbers
// are json.Number.
type Claims map[string]any

// Subject is the sub claim.
func (c Claims) Subject() string { s, _ := c["sub"].(string); return s }

// Scopes splits the scope claim.
func (c Claims) Scopes() []string { s, _ := c["scope"].(string); return strings.Fields(s) }

// Verify checks a token as API Gateway's JWT authorizer does: the kid names
// our key, the algorithm is ES256, the signature holds, iss and aud are
// ours, exp is present and not past, nbf and iat are not in the future.
func (a *Authority) Verify(token string) (Claims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != a.kid {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return &a.key.PublicKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(a.now),
		jwt.WithJSONNumber(),
	)
	if err != nil {
		return nil, fmt.Errorf("devauth: %w", err)
	}
	return Claims(claims), nil
}

// JWK is a public key as RFC 7517 writes it.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
}

// KeySet is a JWK set (RFC 7517 section 5).
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// JWKS is the key set served at /.well-known/jwks.json.
func (a *Authority) JWKS() KeySet {
	jwk, _ := publicJWK(&a.key.PublicKey) // New has already checked the key
	jwk.Kid, jwk.Use, jwk.Alg = a.kid, "sig", "ES256"
	return KeySet{Keys: []JWK{jwk}}
}

func publicJWK(pub *ecdsa.PublicKey) (JWK, error) {
	if pub.Curve != elliptic.P256() {
		return JWK{}, errors.New("devauth: key is not on P-256")
	}
	b, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes
	if err != nil {
		return JWK{}, fmt.Errorf("devauth public key: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return JWK{Kty: "EC", Crv: "P-256", X: enc(b[1:33]), Y: enc(b[33:65])}, nil
}
