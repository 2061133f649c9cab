package certificates

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/trust"
)

// A certificate's signed document is a compact JWS (RFC 7515), EdDSA, by a
// platform document key: a key of a trust.KeyRing whose certs are signed
// by the issuer's root, the same root the trust list's gates pin, so a
// verifier needs no new trust anchor (infra/certificates.md).

// DocumentType is the JWS typ of a certificate document.
const DocumentType = "citycode-certificate+jwt"

// Document keys sign for DocumentKeyLifetime; the successor is made
// documentKeyOverlap before the newest ends.
const (
	DocumentKeyLifetime = 90 * 24 * time.Hour
	documentKeyOverlap  = 14 * 24 * time.Hour
)

// keyCertType is the typ of a root's cert over a key (shared/trust).
const keyCertType = "key-cert+jwt"

// ErrBadDocument is a document that does not verify; the wrapped text
// says why.
var ErrBadDocument = errors.New("certificates: document does not verify")

var b64 = base64.RawURLEncoding.Strict()

// jwsHeader is a document's protected header; its fields are in the order
// they are marshalled, so one (kid) has exactly one spelling.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// DocumentPayload is what a document states: the certificate as it was at
// iat, without its holder (the document travels; the holder id would link
// a holder's documents).
type DocumentPayload struct {
	Issuer      string          `json:"iss"`
	IssuedAt    int64           `json:"iat"`
	ID          string          `json:"jti"`
	Certificate DocumentContent `json:"certificate"`
	// StatusURL is where anyone holding the document asks for the
	// certificate's status now (public); absent when the function has no
	// PUBLIC_BASE_URL.
	StatusURL string `json:"status_url,omitempty"`
}

// DocumentContent is the certificate inside a document.
type DocumentContent struct {
	CertificateID string          `json:"certificate_id"`
	Version       int64           `json:"version"`
	Category      string          `json:"category"`
	IssuerOrg     string          `json:"issuer_org"`
	Status        string          `json:"status"`
	StatusReason  string          `json:"status_reason,omitempty"`
	ValidFrom     string          `json:"valid_from"`
	ValidUntil    *string         `json:"valid_until"`
	IssuedAt      time.Time       `json:"issued_at"`
	Fields        json.RawMessage `json:"fields"`
}

// DocumentKeys signs documents with the newest document key of a ring.
type DocumentKeys struct {
	ring *trust.KeyRing
	// jwks is the ring's public keys, worked out once (the ring never
	// changes after the cold start).
	jwks []trust.CertifiedKey
	// baseURL is the API's public base URL (no trailing slash), or "".
	baseURL string
}

// NewDocumentKeys answers the signer over ring, whose root must be root
// (the pinned TRUST_ROOT_JWK) and which must hold an Ed25519 key.
// publicBaseURL (PUBLIC_BASE_URL: an absolute http(s) URL without query,
// e.g. https://api.example.gov.cn) makes documents carry status_url; ""
// leaves it out.
func NewDocumentKeys(ring *trust.KeyRing, root ed25519.PublicKey, publicBaseURL string) (*DocumentKeys, error) {
	base, err := statusBase(publicBaseURL)
	if err != nil {
		return nil, err
	}
	if !ring.Root.Equal(root) {
		return nil, errors.New("certificates: the document keys are not certified by the trust root")
	}
	if len(ring.Keys) == 0 {
		return nil, errors.New("certificates: the document key ring holds no key")
	}
	jwks := make([]trust.CertifiedKey, 0, len(ring.Keys))
	for _, k := range ring.Keys {
		if _, ok := k.Private.(ed25519.PrivateKey); !ok {
			return nil, errors.New("certificates: document keys must be Ed25519")
		}
		jwk, err := credential.PublicJWK(k.Private.Public())
		if err != nil {
			return nil, err
		}
		jwks = append(jwks, trust.CertifiedKey{JWK: jwk, NotBefore: k.NotBefore.Unix(), NotAfter: k.NotAfter.Unix(), Cert: k.Cert})
	}
	return &DocumentKeys{ring: ring, jwks: jwks, baseURL: base}, nil
}

// statusBase checks PUBLIC_BASE_URL and answers it without trailing slash.
func statusBase(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("certificates: PUBLIC_BASE_URL %q must be an absolute http(s) URL without query or fragment", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// LoadDocumentKeys loads the ring once per cold start, from the file
// DOCUMENT_KEYS_FILE (local runs) or the secret DOCUMENT_KEYS_SECRET_ARN,
// and checks it against the root in TRUST_ROOT_JWK; PUBLIC_BASE_URL, when
// set, makes documents carry status_url.
func LoadDocumentKeys(ctx context.Context, env app.Env, readSecret trust.SecretReader) (*DocumentKeys, error) {
	root, err := trust.ParseRootJWK([]byte(env("TRUST_ROOT_JWK")))
	if err != nil {
		return nil, fmt.Errorf("certificates: TRUST_ROOT_JWK: %w", err)
	}
	var ring *trust.KeyRing
	if path := env("DOCUMENT_KEYS_FILE"); path != "" {
		if ring, err = trust.ReadKeyRingFile(path); err != nil {
			return nil, err
		}
	} else {
		arn := env("DOCUMENT_KEYS_SECRET_ARN")
		if arn == "" {
			return nil, errors.New("certificates: neither DOCUMENT_KEYS_FILE nor DOCUMENT_KEYS_SECRET_ARN is set")
		}
		secret, err := readSecret(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("certificates: read document keys: %w", err)
		}
		ring = &trust.KeyRing{}
		if err := json.Unmarshal([]byte(secret), ring); err != nil {
			return nil, fmt.Errorf("certificates: document keys secret: %w", err)
		}
	}
	return NewDocumentKeys(ring, root, env("PUBLIC_BASE_URL"))
}

// EnsureDocumentKeys keeps the local document key ring at path current:
// made on first use with keys certified by root's private root key, then
// rotated, and written without the private root. root is the issuer's
// full ring (localenv's CN-SH keys).
func EnsureDocumentKeys(path string, root *trust.KeyRing, now time.Time) error {
	r, err := trust.ReadKeyRingFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r = &trust.KeyRing{Issuer: root.Issuer, Name: root.Name, Root: root.Root}
	case err != nil:
		return err
	case !r.Root.Equal(root.Root):
		return fmt.Errorf("certificates: %s is certified by another root", path)
	}
	r.RootPrivate = root.RootPrivate
	changed, err := r.Rotate(now, DocumentKeyLifetime, documentKeyOverlap)
	if err != nil || !changed {
		return err
	}
	return trust.WriteKeyRingFile(path, r.SigningOnly())
}

// current is the newest key valid at now.
func (k *DocumentKeys) current(now time.Time) (*trust.SigningKey, error) {
	for i := len(k.ring.Keys) - 1; i >= 0; i-- {
		if c := &k.ring.Keys[i]; !now.Before(c.NotBefore) && now.Before(c.NotAfter) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("certificates: %w", trust.ErrNoSigningKey)
}

// Sign answers the compact JWS of payload by the newest key valid at now;
// it sets payload's iss and iat, and its status_url when the public base
// URL is known.
func (k *DocumentKeys) Sign(p DocumentPayload, now time.Time) (string, error) {
	key, err := k.current(now)
	if err != nil {
		return "", err
	}
	priv := key.Private.(ed25519.PrivateKey)
	kid, err := credential.KIDFor(priv.Public())
	if err != nil {
		return "", err
	}
	p.Issuer, p.IssuedAt = k.ring.Issuer, now.Unix()
	if k.baseURL != "" {
		p.StatusURL = k.baseURL + "/v1/certificates/" + url.PathEscape(p.Certificate.CertificateID) + "/status"
	}
	header, err := json.Marshal(jwsHeader{Alg: "EdDSA", Kid: b64.EncodeToString(kid[:]), Typ: DocumentType})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("certificates: document: %w", err)
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(body)
	return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input))), nil
}

// JWKS answers the ring's public document keys with their windows and
// root certs; GET /v1/certificate-keys publishes them with the retired
// ones (Store.PublishedKeys).
// The answer is the caller's to change (a copy).
func (k *DocumentKeys) JWKS() ([]trust.CertifiedKey, error) {
	return slices.Clone(k.jwks), nil
}

// VerifyDocument is what anyone holding a document does: find the key
// named by kid among the published keys, check its cert against the
// pinned root, then the JWS strictly — exactly three strict base64url
// parts, the header byte for byte as the key dictates (EdDSA, that kid,
// the document typ), the signature over header and payload, and iat inside
// the key's window. Any changed byte fails.
func VerifyDocument(doc string, keys []trust.CertifiedKey, root ed25519.PublicKey) (DocumentPayload, error) {
	fail := func(what string) (DocumentPayload, error) {
		return DocumentPayload{}, fmt.Errorf("%w: %s", ErrBadDocument, what)
	}
	// base64's decoder skips \r and \n even when strict: nothing but the
	// base64url alphabet and the dots may be in a document.
	if strings.IndexFunc(doc, func(r rune) bool { return !jwsChar(r) }) >= 0 {
		return fail("characters outside base64url")
	}
	parts := strings.Split(doc, ".")
	if len(parts) != 3 {
		return fail("not three parts")
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := b64.DecodeString(p)
		if err != nil || len(b) == 0 {
			return fail("bad base64url")
		}
		raw[i] = b
	}
	var h jwsHeader
	if err := json.Unmarshal(raw[0], &h); err != nil {
		return fail("bad header")
	}
	var key *trust.CertifiedKey
	for i := range keys {
		if keys[i].KID == h.Kid {
			key = &keys[i]
		}
	}
	if key == nil {
		return fail("unknown key")
	}
	want, err := json.Marshal(jwsHeader{Alg: "EdDSA", Kid: key.KID, Typ: DocumentType})
	if err != nil || !bytes.Equal(want, raw[0]) {
		return fail("header is not the key's")
	}
	pub, err := certifiedKey(*key, root)
	if err != nil {
		return fail(err.Error())
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), raw[2]) {
		return fail("bad signature")
	}
	var p DocumentPayload
	if err := json.Unmarshal(raw[1], &p); err != nil {
		return fail("bad payload")
	}
	if p.IssuedAt < key.NotBefore || p.IssuedAt >= key.NotAfter {
		return fail("signed outside the key's window")
	}
	return p, nil
}

func jwsChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// certifiedKey checks a published key's cert against root: EdDSA by the
// root, typ key-cert+jwt, certifying exactly this JWK and window.
func certifiedKey(k trust.CertifiedKey, root ed25519.PublicKey) (ed25519.PublicKey, error) {
	var claims struct {
		jwt.RegisteredClaims
		Key credential.JWK `json:"jwk"`
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	t, err := parser.ParseWithClaims(k.Cert, &claims, func(*jwt.Token) (any, error) { return root, nil })
	if err != nil {
		return nil, fmt.Errorf("key cert: %w", err)
	}
	switch {
	case t.Header["typ"] != keyCertType:
		return nil, errors.New("key cert: wrong typ")
	case claims.Key != k.JWK:
		return nil, errors.New("key cert certifies another key")
	case claims.NotBefore == nil || claims.ExpiresAt == nil || claims.NotBefore.Unix() != k.NotBefore || claims.ExpiresAt.Unix() != k.NotAfter:
		return nil, errors.New("key cert window differs")
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	ed, ok := pub.(ed25519.PublicKey)
	if !ok || k.Alg != "EdDSA" {
		return nil, errors.New("not an Ed25519 key")
	}
	return ed, nil
}
