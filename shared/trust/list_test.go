package trust

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/credential"
)

func TestPublishAndVerifyList(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	now := t0.Add(lifetime - overlap)
	if _, err := home.Rotate(now, lifetime, overlap); err != nil {
		t.Fatal(err)
	}
	at := now.Add(1500 * time.Millisecond)
	signed, published := mustPublish(t, home, 7, at)

	got, err := VerifyList(signed, home.Root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(published, got, ignoreIndex); diff != "" {
		t.Errorf("VerifyList differs from Publish (-publish +verify):\n%s", diff)
	}
	root, err := home.RootJWK()
	if err != nil {
		t.Fatal(err)
	}
	head := List{Version: 7, IssuedAt: now.Add(time.Second), NextUpdate: now.Add(time.Second + time.Hour), MaxOfflineAgeSeconds: 86400}
	if diff := cmp.Diff(head, List{Version: got.Version, IssuedAt: got.IssuedAt, NextUpdate: got.NextUpdate, MaxOfflineAgeSeconds: got.MaxOfflineAgeSeconds}, ignoreIndex); diff != "" {
		t.Errorf("list head (-want +got):\n%s", diff)
	}
	if len(got.Issuers) != 1 || got.Issuers[0].Issuer != "CN-SH" || got.Issuers[0].Root != root || len(got.Issuers[0].Keys) != 2 {
		t.Fatalf("issuers = %+v", got.Issuers)
	}

	// Every key of the ring is found by kid, with its issuer, alg and window.
	for _, k := range home.Keys {
		kid := kidOf(t, k)
		want := credential.Key{KID: kid, Alg: credential.EdDSA, Public: k.Private.Public(), NotBefore: k.NotBefore, NotAfter: k.NotAfter, Issuer: "CN-SH"}
		key, ok := got.Lookup().LookupKey(kid)
		if !ok {
			t.Fatalf("kid %x not in the list", kid)
		}
		if diff := cmp.Diff(want, key); diff != "" {
			t.Errorf("key %x (-want +got):\n%s", kid, diff)
		}
	}

	// The payload is the list of the spec, and never carries private members.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(signed, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issued_at"] != now.Add(time.Second).Format(time.RFC3339) || doc["max_offline_age_seconds"] != 86400.0 {
		t.Errorf("payload members: %s", payload)
	}
	if strings.Contains(string(payload), `"d":`) {
		t.Errorf("payload carries a private key: %s", payload)
	}
}

// TestVerifyListRefusesEveryOneCharacterChange changes each character of a
// signed list in turn; every change must be refused.
func TestVerifyListRefusesEveryOneCharacterChange(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	signed, _ := mustPublish(t, home, 1, t0)
	for i := range len(signed) {
		c := byte('A')
		if signed[i] == 'A' {
			c = 'B'
		}
		tampered := signed[:i] + string(c) + signed[i+1:]
		if _, err := VerifyList(tampered, home.Root); !errors.Is(err, ErrInvalidList) {
			t.Fatalf("character %d changed to %c: %v, want ErrInvalidList", i, c, err)
		}
	}
}

// resign answers l, changed by change, signed with method and key but
// headers like Publish's for ring r, with header overrides.
func resign(t testing.TB, r *KeyRing, l List, change func(*List), method jwt.SigningMethod, key any, header map[string]any) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var c List
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	change(&c)
	kid, err := rootKID(r.Root)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(method, listClaims{List: c})
	tok.Header["typ"], tok.Header["kid"] = listType, kid
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyListRefuses(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	other := mustRing(t, "CN-SH", credential.EdDSA)
	_, good := mustPublish(t, home, 3, t0)
	otherSigned, otherList := mustPublish(t, other, 3, t0)
	ed := jwt.SigningMethodEdDSA
	same := func(*List) {}
	tests := []struct {
		name   string
		signed string
	}{
		{"signed by another root", otherSigned},
		{"a key certified by another root", resign(t, home, good, func(l *List) {
			l.Issuers[0].Keys[0].Cert = otherList.Issuers[0].Keys[0].Cert
		}, ed, home.RootPrivate, nil)},
		{"a key's window longer than its cert's", resign(t, home, good, func(l *List) { l.Issuers[0].Keys[0].NotAfter += 86400 }, ed, home.RootPrivate, nil)},
		{"a key swapped under its cert", resign(t, home, good, func(l *List) {
			l.Issuers[0].Keys[0].JWK = otherList.Issuers[0].Keys[0].JWK
		}, ed, home.RootPrivate, nil)},
		{"a key with private material", resign(t, home, good, func(l *List) { l.Issuers[0].Keys[0].D = "AAAA" }, ed, home.RootPrivate, nil)},
		{"a kid listed twice", resign(t, home, good, func(l *List) {
			l.Issuers[0].Keys = append(l.Issuers[0].Keys, l.Issuers[0].Keys[0])
		}, ed, home.RootPrivate, nil)},
		{"an issuer listed twice", resign(t, home, good, func(l *List) { l.Issuers = append(l.Issuers, l.Issuers[0]) }, ed, home.RootPrivate, nil)},
		{"a root shared by two issuers", resign(t, home, good, func(l *List) {
			l.Issuers = append(l.Issuers, Issuer{Issuer: "CN-XX", Name: "X", Root: l.Issuers[0].Root})
		}, ed, home.RootPrivate, nil)},
		{"no issuer with the signing root", resign(t, home, good, func(l *List) { l.Issuers = otherList.Issuers }, ed, home.RootPrivate, nil)},
		{"version 0", resign(t, home, good, func(l *List) { l.Version = 0 }, ed, home.RootPrivate, nil)},
		{"no max offline age", resign(t, home, good, func(l *List) { l.MaxOfflineAgeSeconds = 0 }, ed, home.RootPrivate, nil)},
		{"next_update before issued_at", resign(t, home, good, func(l *List) { l.NextUpdate = l.IssuedAt.Add(-time.Hour) }, ed, home.RootPrivate, nil)},
		{"typ of a cert", resign(t, home, good, same, ed, home.RootPrivate, map[string]any{"typ": certType})},
		{"kid not the root's", resign(t, home, good, same, ed, home.RootPrivate, map[string]any{"kid": "AAAAAAAAAAA"})},
		{"HS256 keyed with the public root", resign(t, home, good, same, jwt.SigningMethodHS256, []byte(home.Root), nil)},
		{"alg none", resign(t, home, good, same, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := VerifyList(tt.signed, home.Root); !errors.Is(err, ErrInvalidList) {
				t.Errorf("VerifyList = %v, want ErrInvalidList", err)
			}
		})
	}
	// The control: the same re-signing with no change verifies.
	if _, err := VerifyList(resign(t, home, good, same, ed, home.RootPrivate, nil), home.Root); err != nil {
		t.Errorf("unchanged re-signed list refused: %v", err)
	}
}

// TestPeerImport: Hangzhou's own list, verified against Hangzhou's pinned
// root, enters the Shanghai list; a gate pinned to Shanghai's root then
// verifies Hangzhou's codes offline, but not the codes of an issuer
// Hangzhou trusts (trust is not transitive).
func TestPeerImport(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	hz := mustRing(t, "CN-HZ", credential.ES256)
	xx := mustRing(t, "CN-XX", credential.EdDSA)
	now := t0.Add(time.Hour)

	xxSigned, _ := mustPublish(t, xx, 1, now)
	xxList, err := ImportPeer(xxSigned, xx.Root)
	if err != nil {
		t.Fatal(err)
	}
	hzSigned, _ := mustPublish(t, hz, 4, now, xxList)
	if _, err := ImportPeer(hzSigned, home.Root); !errors.Is(err, ErrInvalidList) {
		t.Errorf("Hangzhou's list imported against Shanghai's root: %v", err)
	}
	hzList, err := ImportPeer(hzSigned, hz.Root)
	if err != nil {
		t.Fatal(err)
	}
	signed, l := mustPublish(t, home, 9, now, hzList)
	var ids []string
	for _, iss := range l.Issuers {
		ids = append(ids, iss.Issuer)
	}
	if diff := cmp.Diff([]string{"CN-SH", "CN-HZ"}, ids); diff != "" {
		t.Errorf("issuers (-want +got):\n%s", diff)
	}

	gate := NewGate(home.Root)
	if err := gate.Update(signed, now); err != nil {
		t.Fatal(err)
	}
	at := now.Add(10 * time.Minute)
	for _, tt := range []struct {
		ring *KeyRing
		want string
	}{{home, ""}, {hz, ""}, {xx, "unknown_key"}} {
		code, want := mustCode(t, tt.ring, at)
		got, err := gate.Verify(code, at.Add(5*time.Second), skew)
		if Reason(err) != tt.want || (tt.want == "" && err != nil) {
			t.Errorf("%s code: %v, want reason %q", tt.ring.Issuer, err, tt.want)
		}
		if err == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s claims (-want +got):\n%s", tt.ring.Issuer, diff)
			}
		}
	}
}

// TestPublishTakesThePeersOwnIssuer: from a peer list, only the entry
// under the root that signed it enters the home list, wherever it is listed.
func TestPublishTakesThePeersOwnIssuer(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	hz := mustRing(t, "CN-HZ", credential.EdDSA)
	xx := mustRing(t, "CN-XX", credential.EdDSA)
	xxSigned, _ := mustPublish(t, xx, 1, t0)
	xxList, err := ImportPeer(xxSigned, xx.Root)
	if err != nil {
		t.Fatal(err)
	}
	_, hzList := mustPublish(t, hz, 1, t0, xxList)
	reordered := resign(t, hz, hzList, func(l *List) { l.Issuers[0], l.Issuers[1] = l.Issuers[1], l.Issuers[0] }, jwt.SigningMethodEdDSA, hz.RootPrivate, nil)
	peer, err := ImportPeer(reordered, hz.Root)
	if err != nil {
		t.Fatal(err)
	}
	if peer.Issuers[0].Issuer != "CN-XX" {
		t.Fatalf("the peer list was not reordered: %s first", peer.Issuers[0].Issuer)
	}
	_, l := mustPublish(t, home, 1, t0, peer)
	var ids []string
	for _, iss := range l.Issuers {
		ids = append(ids, iss.Issuer)
	}
	if diff := cmp.Diff([]string{"CN-SH", "CN-HZ"}, ids); diff != "" {
		t.Errorf("issuers (-want +got):\n%s", diff)
	}
}

func TestPublishRefuses(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	fake := mustRing(t, "CN-SH", credential.EdDSA)
	hz := mustRing(t, "CN-HZ", credential.EdDSA)
	fakeSigned, _ := mustPublish(t, fake, 1, t0)
	fakeList, err := ImportPeer(fakeSigned, fake.Root)
	if err != nil {
		t.Fatal(err)
	}
	hzSigned, hzPublished := mustPublish(t, hz, 1, t0)
	hzList, err := ImportPeer(hzSigned, hz.Root)
	if err != nil {
		t.Fatal(err)
	}
	var unverified List
	if err := json.Unmarshal([]byte(mustJSON(t, hzPublished)), &unverified); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		home          *KeyRing
		peers         []List
		version       int
		maxOfflineAge time.Duration
	}{
		{"a peer list not verified", home, []List{unverified}, 1, day},
		{"a peer claiming the home issuer id", home, []List{fakeList}, 1, day},
		{"the same peer twice", home, []List{hzList, hzList}, 1, day},
		{"version 0", home, nil, 0, day},
		{"no offline age", home, nil, 1, 0},
		{"a signing-only ring", home.SigningOnly(), nil, 1, day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if s, _, err := Publish(tt.home, tt.peers, tt.version, t0, tt.maxOfflineAge, time.Hour); err == nil {
				t.Errorf("Publish = %.40s…, want an error", s)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzVerifyList: whatever is downloaded, VerifyList never panics, and the
// only text it accepts is the list the root signed.
func FuzzVerifyList(f *testing.F) {
	home := mustRing(f, "CN-SH", credential.EdDSA)
	hz := mustRing(f, "CN-HZ", credential.ES256)
	hzSigned, _ := mustPublish(f, hz, 1, t0)
	hzList, err := ImportPeer(hzSigned, hz.Root)
	if err != nil {
		f.Fatal(err)
	}
	signed, _ := mustPublish(f, home, 1, t0, hzList)
	f.Add(signed)
	f.Add(hzSigned)
	f.Add(strings.Replace(signed, ".", "..", 1))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := VerifyList(s, home.Root); err == nil && s != signed {
			t.Errorf("accepted text other than the signed list: %q", s)
		}
	})
}
