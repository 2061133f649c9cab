package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The Ed25519 key of RFC 8037, appendix A.1, and its RFC 7638 thumbprint
// from appendix A.3.
const (
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

// The P-256 key of RFC 7517, appendices A.1 and A.2.
const (
	rfc7517X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
	rfc7517Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
	rfc7517D = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
)

func kidOf(t *testing.T, thumbprint []byte) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString(thumbprint[:8])
}

func TestJWKKnownKeys(t *testing.T) {
	t.Parallel()
	edThumb, err := base64.RawURLEncoding.DecodeString(rfc8037Thumbprint)
	if err != nil {
		t.Fatal(err)
	}
	ecThumb := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"}`))
	tests := []struct {
		name    string
		private JWK
		want    JWK
	}{
		{
			name:    "RFC 8037 Ed25519",
			private: JWK{Kty: "OKP", Crv: "Ed25519", X: rfc8037X, D: rfc8037D},
			want:    JWK{Kty: "OKP", Crv: "Ed25519", X: rfc8037X, D: rfc8037D, KID: kidOf(t, edThumb), Alg: "EdDSA", Use: "sig"},
		},
		{
			name:    "RFC 7517 P-256",
			private: JWK{Kty: "EC", Crv: "P-256", X: rfc7517X, Y: rfc7517Y, D: rfc7517D},
			want:    JWK{Kty: "EC", Crv: "P-256", X: rfc7517X, Y: rfc7517Y, D: rfc7517D, KID: kidOf(t, ecThumb[:]), Alg: "ES256", Use: "sig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			priv, err := tt.private.PrivateKey()
			if err != nil {
				t.Fatal(err)
			}
			got, err := PrivateJWK(priv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PrivateJWK (-want +got):\n%s", diff)
			}
			pub, err := PublicJWK(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			wantPub := tt.want
			wantPub.D = ""
			if diff := cmp.Diff(wantPub, pub); diff != "" {
				t.Errorf("PublicJWK (-want +got):\n%s", diff)
			}
			s, err := tt.want.Signer()
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.RawURLEncoding.EncodeToString(s.KID[:]); got != tt.want.KID {
				t.Errorf("Signer KID %s, want %s", got, tt.want.KID)
			}
		})
	}
}

func TestJWKJSON(t *testing.T) {
	t.Parallel()
	j, err := PublicJWK(mustPublic(t, JWK{Kty: "OKP", Crv: "Ed25519", X: rfc8037X}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"OKP","crv":"Ed25519","x":"` + rfc8037X + `","kid":"kPrK_qmxVWY","alg":"EdDSA","use":"sig"}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func mustPublic(t *testing.T, j JWK) crypto.PublicKey {
	t.Helper()
	pub, err := j.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// A key survives JWK JSON, as the trust list carries it, and verifies codes.
func TestJWKKeyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  crypto.Signer
	}{
		{"Ed25519", testEd25519()},
		{"ES256", testP256(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSigner(t, tt.key)
			j, err := PublicJWK(s.Public())
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			var back JWK
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			key, err := back.Key(testIssuer, testKeyFrom, testKeyTo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(keyFor(s), key, cmp.Comparer(func(a, b *ecdsa.PublicKey) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("Key (-want +got):\n%s", diff)
			}
			if _, err := Verify(mustEncode(t, s, testClaims()), NewKeySet(key), testNow, testSkew); err != nil {
				t.Errorf("Verify with the JWK's key: %v", err)
			}
			priv, err := PrivateJWK(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := priv.Signer()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(mustEncode(t, s2, testClaims()), NewKeySet(key), testNow, testSkew); err != nil {
				t.Errorf("Verify a code of the private JWK's signer: %v", err)
			}
		})
	}
}

func TestJWKRefuses(t *testing.T) {
	t.Parallel()
	ed := JWK{Kty: "OKP", Crv: "Ed25519", X: rfc8037X, D: rfc8037D}
	ec := JWK{Kty: "EC", Crv: "P-256", X: rfc7517X, Y: rfc7517Y, D: rfc7517D}
	otherD := base64.RawURLEncoding.EncodeToString(seed(0x00))
	change := func(j JWK, f func(*JWK)) JWK { f(&j); return j }
	tests := []struct {
		name      string
		jwk       JWK
		publicToo bool // PublicKey refuses it as well as PrivateKey
	}{
		{"kty RSA", change(ed, func(j *JWK) { j.Kty = "RSA" }), true},
		{"OKP X25519", change(ed, func(j *JWK) { j.Crv = "X25519" }), true},
		{"EC P-384", change(ec, func(j *JWK) { j.Crv = "P-384" }), true},
		{"EC with crv Ed25519", change(ec, func(j *JWK) { j.Crv = "Ed25519" }), true},
		{"x missing", change(ed, func(j *JWK) { j.X = "" }), true},
		{"x 31 bytes", change(ed, func(j *JWK) { j.X = base64.RawURLEncoding.EncodeToString(seed(0)[:31]) }), true},
		{"x padded", change(ed, func(j *JWK) { j.X += "=" }), true},
		{"x standard base64", change(ed, func(j *JWK) { j.X = base64.RawStdEncoding.EncodeToString(mustB64(t, rfc8037X)) }), true},
		{"x non-canonical last character", change(ed, func(j *JWK) { j.X = j.X[:42] + "p" }), true},
		{"y in an OKP key", change(ed, func(j *JWK) { j.Y = rfc7517Y }), true},
		{"EC without y", change(ec, func(j *JWK) { j.Y = "" }), true},
		{"EC point not on the curve", change(ec, func(j *JWK) { j.Y = j.X }), true},
		{"alg ES256 on Ed25519", change(ed, func(j *JWK) { j.Alg = "ES256" }), true},
		{"alg EdDSA on P-256", change(ec, func(j *JWK) { j.Alg = "EdDSA" }), true},
		{"alg none", change(ed, func(j *JWK) { j.Alg = "none" }), true},
		{"use enc", change(ed, func(j *JWK) { j.Use = "enc" }), true},
		{"kid of another key", change(ed, func(j *JWK) { j.KID = "AAAAAAAAAAA" }), true},
		{"Ed25519 d missing", change(ed, func(j *JWK) { j.D = "" }), false},
		{"Ed25519 d 31 bytes", change(ed, func(j *JWK) { j.D = otherD[:41] }), false},
		{"Ed25519 d of another key", change(ed, func(j *JWK) { j.D = otherD }), false},
		{"P-256 d of another key", change(ec, func(j *JWK) { j.D = otherD }), false},
		{"P-256 d zero", change(ec, func(j *JWK) { j.D = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.jwk.PrivateKey(); err == nil {
				t.Error("PrivateKey accepted it")
			}
			if _, err := tt.jwk.Signer(); err == nil {
				t.Error("Signer accepted it")
			}
			_, err := tt.jwk.PublicKey()
			if tt.publicToo != (err != nil) {
				t.Errorf("PublicKey error %v, want an error: %v", err, tt.publicToo)
			}
			if _, err := tt.jwk.Key(testIssuer, testKeyFrom, testKeyTo); tt.publicToo != (err != nil) {
				t.Errorf("Key error %v, want an error: %v", err, tt.publicToo)
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublicJWKRefuses(t *testing.T) {
	t.Parallel()
	for name, pub := range map[string]crypto.PublicKey{
		"RSA":           testRSA(t).Public(),
		"P-384":         testP384(t).Public(),
		"short Ed25519": mustB64(t, rfc8037X)[:31],
		"nil ECDSA":     (*ecdsa.PublicKey)(nil),
	} {
		if _, err := PublicJWK(pub); err == nil {
			t.Errorf("PublicJWK accepted a %s key", name)
		}
	}
	if _, err := PrivateJWK(testRSA(t)); err == nil {
		t.Error("PrivateJWK accepted an RSA key")
	}
}
