package devauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

func newAuthority(t *testing.T) *Authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestIssueVerify(t *testing.T) {
	t.Parallel()
	a := newAuthority(t)
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	tok, err := a.Issue("demo-resident-1", []string{"resident", "scan:venue"}, "org-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := a.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	jti, _ := claims["jti"].(string)
	if len(jti) != 32 {
		t.Errorf("jti = %q, want 32 hex digits", jti)
	}
	delete(claims, "jti")
	want := Claims{
		"iss": Issuer, "aud": Audience, "sub": "demo-resident-1", "scope": "resident scan:venue", "org": "org-1",
		"iat": json.Number("1795334400"), "nbf": json.Number("1795334400"), "exp": json.Number("1795338000"),
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if claims.Subject() != "demo-resident-1" {
		t.Errorf("Subject() = %q", claims.Subject())
	}
	if diff := cmp.Diff([]string{"resident", "scan:venue"}, claims.Scopes()); diff != "" {
		t.Errorf("Scopes() (-want +got):\n%s", diff)
	}
	header := strings.Split(tok, ".")[0]
	h, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"alg":"ES256","kid":%q,"typ":"JWT"}`, a.KeyID()); string(h) != want {
		t.Errorf("header = %s, want %s", h, want)
	}

	// Without org or scopes those claims are left out.
	tok, err = a.Issue("machine-1", nil, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = a.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["org"]; ok {
		t.Error("org claim present without org")
	}
	if _, ok := claims["scope"]; ok {
		t.Error("scope claim present without scopes")
	}
	if _, err := a.Issue("", nil, "", time.Minute); err == nil {
		t.Error("Issue with an empty subject succeeded")
	}
	if _, err := a.Issue("x", nil, "", 0); err == nil {
		t.Error("Issue with no lifetime succeeded")
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	a := newAuthority(t)
	other := newAuthority(t)
	now := time.Now().Truncate(time.Second)
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "s", "scope": "resident",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pub, err := a.key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	valid := sign(jwt.SigningMethodES256, a.key, a.kid, good())
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+Issuer+`","aud":"`+Audience+`","sub":"admin","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name, token string
	}{
		{"expired", sign(jwt.SigningMethodES256, a.key, a.kid, with("exp", now.Add(-Leeway-time.Second).Unix()))},
		{"no exp", sign(jwt.SigningMethodES256, a.key, a.kid, with("exp", nil))},
		{"not yet valid", sign(jwt.SigningMethodES256, a.key, a.kid, with("nbf", now.Add(Leeway+time.Minute).Unix()))},
		{"issued in the future", sign(jwt.SigningMethodES256, a.key, a.kid, with("iat", now.Add(Leeway+time.Minute).Unix()))},
		{"wrong issuer", sign(jwt.SigningMethodES256, a.key, a.kid, with("iss", "https://evil.example"))},
		{"no issuer", sign(jwt.SigningMethodES256, a.key, a.kid, with("iss", nil))},
		{"wrong audience", sign(jwt.SigningMethodES256, a.key, a.kid, with("aud", "someone-else"))},
		{"no audience", sign(jwt.SigningMethodES256, a.key, a.kid, with("aud", nil))},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, a.kid, good())},
		{"HS256 keyed with the public key", sign(jwt.SigningMethodHS256, pub, a.kid, good())},
		{"ES384", sign(jwt.SigningMethodES384, mustKey(t, elliptic.P384()), a.kid, good())},
		{"another key under our kid", sign(jwt.SigningMethodES256, other.key, a.kid, good())},
		{"another key and kid", sign(jwt.SigningMethodES256, other.key, other.kid, good())},
		{"no kid", sign(jwt.SigningMethodES256, a.key, "", good())},
		{"tampered payload", tampered},
		{"garbage", "not.a.token"},
		{"empty", ""},
	}
	if _, err := a.Verify(valid); err != nil {
		t.Fatalf("the untouched token fails: %v", err)
	}
	within := sign(jwt.SigningMethodES256, a.key, a.kid, with("exp", now.Add(-Leeway/2).Unix()))
	if _, err := a.Verify(within); err != nil {
		t.Errorf("a token expired within the leeway fails: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if c, err := a.Verify(tt.token); err == nil {
				t.Errorf("Verify accepted it: %v", c)
			}
		})
	}
}

func mustKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	a := newAuthority(t)
	set := a.JWKS()
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k.Kid != a.KeyID() || k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" {
		t.Errorf("JWK = %+v", k)
	}
	// The kid is the RFC 7638 thumbprint of the published key.
	sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, k.X, k.Y))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.Kid != want {
		t.Errorf("kid = %s, want thumbprint %s", k.Kid, want)
	}
	// A verifier holding only the JWKS accepts our tokens.
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issue("s", []string{"resident"}, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Errorf("token does not verify with the JWKS key: %v", err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "devauth")
	const n = 8
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = a.KeyID()
		})
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("concurrent Opens got different keys: %v", kids)
		}
	}
	info, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("dir holds %d files, want only the key", len(entries))
	}
	// A token from one opening verifies with another.
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issue("s", nil, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); err != nil {
		t.Error(err)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, keyFile), []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open accepted a key file without PEM")
	}
}
