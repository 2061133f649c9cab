package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"
)

// Fixed material shared by the tests, the benchmarks and the vectors.
var (
	// testIAT is when the test codes are issued; testNow is 10 s later.
	testIAT = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	testNow = testIAT.Add(10 * time.Second)
	// testKeyFrom and testKeyTo bound the test keys' validity windows.
	testKeyFrom = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	testKeyTo   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

const (
	testIssuer = "CN-SH"
	testSkew   = 30 * time.Second
)

// seed answers 32 bytes first, first+1, … (mod 256).
func seed(first byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// testEd25519 is the Ed25519 key from seed 00 01 … 1f.
func testEd25519() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed(0x00)) }

// testOtherEd25519 is an Ed25519 key no test trusts, from seed 20 21 … 3f.
func testOtherEd25519() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed(0x20)) }

// testP256 is the P-256 key whose scalar is SHA-256("citycode test P-256 key").
func testP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte("citycode test P-256 key"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClaims() Claims {
	c := Claims{
		Issuer:    testIssuer,
		IssuedAt:  testIAT,
		NotBefore: testIAT,
		Expires:   testIAT.Add(60 * time.Second),
	}
	copy(c.Subject[:], seed(0x40))
	copy(c.CodeID[:], seed(0xa0))
	return c
}

func mustSigner(t testing.TB, priv crypto.Signer) *Signer {
	t.Helper()
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyFor answers the trust-list entry of a signer: issuer CN-SH, valid
// through November 2026.
func keyFor(s *Signer) Key {
	return Key{KID: s.KID, Alg: s.Alg, Public: s.Public(), NotBefore: testKeyFrom, NotAfter: testKeyTo, Issuer: testIssuer}
}

func mustEncode(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	text, err := Encode(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func testRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testP384(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
