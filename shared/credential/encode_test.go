package credential

import (
	"crypto"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"
)

// qrAlphanumeric is the character set of the QR alphanumeric mode.
const qrAlphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

func TestEncodeIsStable(t *testing.T) {
	t.Parallel()
	a := mustEncode(t, mustSigner(t, testEd25519()), testClaims())
	b := mustEncode(t, mustSigner(t, testEd25519()), testClaims())
	if a != b {
		t.Errorf("same claims and Ed25519 key gave\n%s\n%s", a, b)
	}
}

// Encode writes exactly the COSE of infra/credential.md: protected
// {1: alg, 4: kid}, empty unprotected map, claims in core deterministic order.
func TestEncodeLayout(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, testEd25519())
	p, err := Decode(mustEncode(t, s, testClaims()))
	if err != nil {
		t.Fatal(err)
	}
	wantProtected := "a2" + "0127" + "0448" + hex.EncodeToString(s.KID[:])
	wantPayload := "a6" +
		"01" + "65" + hex.EncodeToString([]byte("CN-SH")) +
		"02" + "50" + "404142434445464748494a4b4c4d4e4f" +
		"04" + "1a" + "6b02a13c" + // 1795334460 = 2026-11-22T08:01:00Z
		"05" + "1a" + "6b02a100" + // 1795334400 = 2026-11-22T08:00:00Z
		"06" + "1a" + "6b02a100" +
		"07" + "48" + "a0a1a2a3a4a5a6a7"
	got := struct{ Protected, Payload string }{hex.EncodeToString([]byte(p.protected)), hex.EncodeToString([]byte(p.payload))}
	if diff := cmp.Diff(struct{ Protected, Payload string }{wantProtected, wantPayload}, got); diff != "" {
		t.Errorf("COSE layout (-want +got):\n%s", diff)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
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
			c := testClaims()
			c.IssuedAt = c.IssuedAt.Add(999 * time.Millisecond).In(time.FixedZone("CST", 8*3600))
			p, err := Decode(mustEncode(t, s, c))
			if err != nil {
				t.Fatal(err)
			}
			want := Parsed{Alg: s.Alg, KID: s.KID, Claims: testClaims()}
			if diff := cmp.Diff(want, *p, cmp.AllowUnexported(Parsed{}), cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".protected" || p.Last().String() == ".payload" || p.Last().String() == ".signature"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("Decode(Encode) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, testEd25519())
	tests := []struct {
		name   string
		change func(*Claims)
	}{
		{"no issuer", func(c *Claims) { c.Issuer = "" }},
		{"issuer not UTF-8", func(c *Claims) { c.Issuer = "CN-\xff" }},
		{"zero iat", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"zero nbf", func(c *Claims) { c.NotBefore = time.Time{} }},
		{"zero exp", func(c *Claims) { c.Expires = time.Time{} }},
		{"iat at the epoch", func(c *Claims) { c.IssuedAt = time.Unix(0, 0) }},
		{"exp at nbf", func(c *Claims) { c.Expires = c.NotBefore }},
		{"exp before nbf", func(c *Claims) { c.Expires = c.NotBefore.Add(-time.Second) }},
		{"too long for QR version 8-M", func(c *Claims) { c.Issuer = strings.Repeat("X", 100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testClaims()
			tt.change(&c)
			if text, err := Encode(s, c); err == nil {
				t.Errorf("Encode answered %q, want an error", text)
			}
		})
	}
}

func TestNewSignerRefuses(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner(testRSA(t)); err == nil {
		t.Error("NewSigner accepted an RSA key")
	}
	if _, err := NewSigner(testP384(t)); err == nil {
		t.Error("NewSigner accepted a P-384 key")
	}
}

// Every code fits a QR code of version 8 at level M in alphanumeric mode, as
// two independent QR libraries confirm: go-qrcode makes the symbol (forced to
// version 8-M, and choosing no larger version by itself), gozxing reads it
// back, and what it reads verifies.
func TestCodeFitsQRVersion8M(t *testing.T) {
	t.Parallel()
	long := testClaims()
	long.Issuer = longestIssuer(t)
	tests := []struct {
		name   string
		key    crypto.Signer
		claims Claims
	}{
		{"Ed25519", testEd25519(), testClaims()},
		{"ES256", testP256(t), testClaims()},
		{"Ed25519 longest issuer", testEd25519(), long},
		{"ES256 longest issuer", testP256(t), long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSigner(t, tt.key)
			key := keyFor(s)
			key.Issuer = tt.claims.Issuer
			text := mustEncode(t, s, tt.claims)
			if len(text) > MaxTextLen {
				t.Fatalf("%d characters, want at most %d", len(text), MaxTextLen)
			}
			if strings.Trim(text, qrAlphanumeric) != "" {
				t.Fatalf("%q has characters outside the QR alphanumeric set", text)
			}
			checkQR(t, text)
			if _, err := Verify(text, NewKeySet(key), testNow, testSkew); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func checkQR(t *testing.T, text string) {
	t.Helper()
	auto, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if auto.VersionNumber > 8 {
		t.Errorf("go-qrcode chose version %d-M", auto.VersionNumber)
	}
	q, err := qrcode.NewWithForcedVersion(text, 8, qrcode.Medium)
	if err != nil {
		t.Fatalf("does not fit version 8-M: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(q.Image(-4))
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("gozxing cannot read the symbol: %v", err)
	}
	if res.GetText() != text {
		t.Fatalf("gozxing read %q, want %q", res.GetText(), text)
	}
}

// longestIssuer answers the longest issuer id Encode accepts with an ES256
// key (whose codes are a byte longer than Ed25519's at most), checking that
// one more character is refused.
func longestIssuer(t *testing.T) string {
	t.Helper()
	s := mustSigner(t, testP256(t))
	c := testClaims()
	for n := 1; ; n++ {
		c.Issuer = strings.Repeat("X", n)
		if _, err := Encode(s, c); err != nil {
			if n < len(testIssuer) {
				t.Fatalf("Encode refused issuer of %d characters: %v", n, err)
			}
			t.Logf("longest issuer: %d bytes", n-1)
			return strings.Repeat("X", n-1)
		}
	}
}
