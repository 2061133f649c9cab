package trust

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/citycode/citycode/shared/credential"
)

// t0 is when the test rings are made.
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const (
	day      = 24 * time.Hour
	lifetime = 30 * day
	overlap  = 7 * day
	skew     = 30 * time.Second
)

// ignoreIndex compares Lists by their JSON members only.
var ignoreIndex = cmpopts.IgnoreUnexported(List{})

func mustRing(t testing.TB, issuer string, alg credential.Alg) *KeyRing {
	t.Helper()
	r, err := NewKeyRing(issuer, issuer+" city", alg, t0, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustPublish publishes r's list with the peers, 24 h offline age, 1 h refresh.
func mustPublish(t testing.TB, r *KeyRing, version int, now time.Time, peers ...List) (string, List) {
	t.Helper()
	signed, l, err := Publish(r, peers, version, now, day, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return signed, l
}

// mustCode answers a 60 s code of r's current signer, issued at now.
func mustCode(t testing.TB, r *KeyRing, now time.Time) (string, credential.Claims) {
	t.Helper()
	s, err := r.Signer(now)
	if err != nil {
		t.Fatal(err)
	}
	c := credential.Claims{Issuer: r.Issuer, IssuedAt: now, NotBefore: now, Expires: now.Add(time.Minute)}
	_, _ = rand.Read(c.Subject[:])
	_, _ = rand.Read(c.CodeID[:])
	code, err := credential.Encode(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return code, c
}

func kidOf(t testing.TB, k SigningKey) [8]byte {
	t.Helper()
	kid, err := credential.KIDFor(k.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	return kid
}
