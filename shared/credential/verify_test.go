package credential

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/veraison/go-cose"
)

// cborNull is CBOR null, for a claim or header present with no value.
var cborNull = cbor.RawMessage{0xf6}

// checkSentinel fails unless err wraps exactly one of the reasons.
func checkSentinel(t testing.TB, err error) {
	t.Helper()
	n := 0
	for _, r := range reasons {
		if errors.Is(err, r) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d reasons, want 1", err, n)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ed := mustSigner(t, testEd25519())
	es := mustSigner(t, testP256(t))
	other := mustSigner(t, testOtherEd25519())
	keys := NewKeySet(keyFor(ed), keyFor(es))
	claims := testClaims()
	exp := claims.Expires
	flip := func(i int) func([]byte) any {
		return func(b []byte) any { b = slices.Clone(b); b[i] ^= 1; return b }
	}

	tests := []struct {
		name string
		text string
		keys KeyLookup
		now  time.Time
		want string // reason; "" for valid
		// claims modifies the expected claims of a valid code.
		claims func(*Claims)
	}{
		{name: "Ed25519", text: mustEncode(t, ed, claims), want: ""},
		{name: "ES256", text: mustEncode(t, es, claims), want: ""},
		{name: "hand-built equals Encode", text: build(t, ed, parts{}), want: ""},
		{name: "ignores non-critical header parameters", text: build(t, ed, parts{protected: map[any]any{1: -8, 3: "application/cwt", 4: ed.KID[:]}}), want: ""},
		{name: "ignores invalid UTF-8 in an ignored claim", text: build(t, ed, parts{claims: with(map[any]any{8: cbor.RawMessage{0x62, 0xc3, 0x28}})}), want: ""},
		{name: "ignores other claims", text: build(t, ed, parts{claims: with(map[any]any{8: map[any]any{1: 2}, "x": "y", -70000: 1})}), want: ""},
		{name: "nbf at now+skew", text: build(t, ed, parts{claims: with(map[any]any{5: testNow.Add(testSkew).Unix()})}), want: "",
			claims: func(c *Claims) { c.NotBefore = testNow.Add(testSkew) }},
		{name: "exp just after now-skew", now: exp.Add(testSkew - time.Second), text: mustEncode(t, ed, claims), want: ""},
		{name: "iat at key's nbf", text: build(t, ed, parts{claims: with(map[any]any{6: testKeyFrom.Unix()})}), want: "",
			claims: func(c *Claims) { c.IssuedAt = testKeyFrom }},

		{name: "empty", text: "", want: "malformed"},
		{name: "no prefix", text: strings.TrimPrefix(mustEncode(t, ed, claims), Prefix), want: "malformed"},
		{name: "lower-case prefix", text: "cc1:" + strings.TrimPrefix(mustEncode(t, ed, claims), Prefix), want: "malformed"},
		{name: "version 2 prefix", text: "CC2:" + strings.TrimPrefix(mustEncode(t, ed, claims), Prefix), want: "malformed"},
		{name: "prefix only", text: Prefix, want: "malformed"},
		{name: "base45 bad character", text: Prefix + strings.ToLower(strings.TrimPrefix(mustEncode(t, ed, claims), Prefix)), want: "malformed"},
		{name: "base45 bad length", text: mustEncode(t, ed, claims) + "00", want: "malformed"},
		{name: "base45 triple over 65535", text: Prefix + "GGW", want: "malformed"},
		{name: "truncated", text: mustEncode(t, ed, claims)[:100], want: "malformed"},
		{name: "untagged", text: build(t, ed, parts{untagged: true}), want: "malformed"},
		{name: "COSE_Sign tag 98", text: build(t, ed, parts{tag: 98}), want: "malformed"},
		{name: "five elements", text: build(t, ed, parts{extra: []any{0}}), want: "malformed"},
		{name: "trailing bytes", text: build(t, ed, parts{trailing: []byte{0}}), want: "malformed"},
		{name: "protected as map", text: build(t, ed, parts{protectedElem: func([]byte) any { return defaultProtected(ed) }}), want: "malformed"},
		{name: "protected empty", text: build(t, ed, parts{protectedElem: func([]byte) any { return []byte{} }}), want: "malformed"},
		{name: "protected not a map", text: build(t, ed, parts{protectedElem: func([]byte) any { return []byte{0x82, 0x01, 0x02} }}), want: "malformed"},
		{name: "protected trailing bytes", text: build(t, ed, parts{protectedElem: func(b []byte) any { return append(b, 0) }}), want: "malformed"},
		{name: "protected duplicate label", text: build(t, ed, parts{protectedElem: func(b []byte) any {
			return append([]byte{0xa3, 0x01, 0x27, 0x01, 0x27}, b[3:]...)
		}}), want: "malformed"},
		{name: "no alg", text: build(t, ed, parts{protected: map[any]any{4: ed.KID[:]}}), want: "malformed"},
		{name: "alg as text", text: build(t, ed, parts{protected: map[any]any{1: "EdDSA", 4: ed.KID[:]}}), want: "malformed"},
		{name: "alg null", text: build(t, ed, parts{protected: map[any]any{1: cborNull, 4: ed.KID[:]}}), want: "malformed"},
		{name: "no kid", text: build(t, ed, parts{protected: map[any]any{1: -8}}), want: "malformed"},
		{name: "kid 7 bytes", text: build(t, ed, parts{protected: map[any]any{1: -8, 4: ed.KID[:7]}}), want: "malformed"},
		{name: "kid as text", text: build(t, ed, parts{protected: map[any]any{1: -8, 4: string(ed.KID[:])}}), want: "malformed"},
		{name: "kid as array", text: build(t, ed, parts{protected: map[any]any{1: -8, 4: []int{1, 2, 3, 4, 5, 6, 7, 8}}}), want: "malformed"},
		{name: "critical parameter", text: build(t, ed, parts{protected: map[any]any{1: -8, 2: []any{3}, 3: "x", 4: ed.KID[:]}}), want: "malformed"},
		{name: "critical null", text: build(t, ed, parts{protected: map[any]any{1: -8, 2: cborNull, 4: ed.KID[:]}}), want: "malformed"},
		{name: "unprotected kid", text: build(t, ed, parts{unprotected: map[any]any{4: ed.KID[:]}}), want: "malformed"},
		{name: "unprotected null", text: build(t, ed, parts{unprotected: cborNull}), want: "malformed"},
		{name: "payload null", text: build(t, ed, parts{payloadElem: func([]byte) any { return cborNull }}), want: "malformed"},
		{name: "payload as map", text: build(t, ed, parts{payloadElem: func([]byte) any { return defaultClaims() }}), want: "malformed"},
		{name: "claims not a map", text: build(t, ed, parts{payloadElem: func([]byte) any { return []byte{0x80} }}), want: "malformed"},
		{name: "claims trailing bytes", text: build(t, ed, parts{payloadElem: func(b []byte) any { return append(b, 0) }}), want: "malformed"},
		{name: "claims indefinite length", text: build(t, ed, parts{payloadElem: func(b []byte) any {
			return append(append([]byte{0xbf}, b[1:]...), 0xff)
		}}), want: "malformed"},
		{name: "claims duplicate key", text: build(t, ed, parts{payloadElem: func(b []byte) any {
			return append(append([]byte{0xa7}, b[1:]...), 0x01, 0x61, 'X')
		}}), want: "malformed"},
		{name: "signature empty", text: build(t, ed, parts{signatureElem: func([]byte) any { return []byte{} }}), want: "malformed"},
		{name: "signature as text", text: build(t, ed, parts{signatureElem: func(b []byte) any { return string(b) }}), want: "malformed"},
		{name: "no iss", text: build(t, ed, parts{claims: with(map[any]any{1: nil})}), want: "malformed"},
		{name: "iss empty", text: build(t, ed, parts{claims: with(map[any]any{1: ""})}), want: "malformed"},
		{name: "iss as bytes", text: build(t, ed, parts{claims: with(map[any]any{1: []byte(testIssuer)})}), want: "malformed"},
		{name: "iss invalid UTF-8", text: build(t, ed, parts{claims: with(map[any]any{1: cbor.RawMessage{0x62, 0xc3, 0x28}})}), want: "malformed"},
		{name: "duplicate ignored claim", text: build(t, ed, parts{payloadElem: func(b []byte) any {
			return append(append([]byte{0xa8}, b[1:]...), 0x08, 0x00, 0x08, 0x01)
		}}), want: "malformed"},
		{name: "tag in an ignored claim", text: build(t, ed, parts{claims: with(map[any]any{8: cbor.Tag{Number: 1, Content: 0}})}), want: "malformed"},
		{name: "no sub", text: build(t, ed, parts{claims: with(map[any]any{2: nil})}), want: "malformed"},
		{name: "sub 15 bytes", text: build(t, ed, parts{claims: with(map[any]any{2: claims.Subject[:15]})}), want: "malformed"},
		{name: "sub 17 bytes", text: build(t, ed, parts{claims: with(map[any]any{2: append(claims.Subject[:], 0)})}), want: "malformed"},
		{name: "sub as text", text: build(t, ed, parts{claims: with(map[any]any{2: "0123456789abcdef"})}), want: "malformed"},
		{name: "sub as array", text: build(t, ed, parts{claims: with(map[any]any{2: make([]int, 16)})}), want: "malformed"},
		{name: "sub null", text: build(t, ed, parts{claims: with(map[any]any{2: cborNull})}), want: "malformed"},
		{name: "no cti", text: build(t, ed, parts{claims: with(map[any]any{7: nil})}), want: "malformed"},
		{name: "cti 9 bytes", text: build(t, ed, parts{claims: with(map[any]any{7: append(claims.CodeID[:], 0)})}), want: "malformed"},
		{name: "no exp", text: build(t, ed, parts{claims: with(map[any]any{4: nil})}), want: "malformed"},
		{name: "no nbf", text: build(t, ed, parts{claims: with(map[any]any{5: nil})}), want: "malformed"},
		{name: "no iat", text: build(t, ed, parts{claims: with(map[any]any{6: nil})}), want: "malformed"},
		{name: "iat zero", text: build(t, ed, parts{claims: with(map[any]any{6: 0})}), want: "malformed"},
		{name: "exp negative", text: build(t, ed, parts{claims: with(map[any]any{4: -1})}), want: "malformed"},
		{name: "exp float", text: build(t, ed, parts{claims: with(map[any]any{4: float64(exp.Unix())})}), want: "malformed"},
		{name: "exp as text", text: build(t, ed, parts{claims: with(map[any]any{4: exp.Format(time.RFC3339)})}), want: "malformed"},
		{name: "exp tagged epoch", text: build(t, ed, parts{claims: with(map[any]any{4: cbor.Tag{Number: 1, Content: exp.Unix()}})}), want: "malformed"},
		{name: "exp over int64", text: build(t, ed, parts{claims: with(map[any]any{4: uint64(1) << 63})}), want: "malformed"},
		{name: "exp null", text: build(t, ed, parts{claims: with(map[any]any{4: cborNull})}), want: "malformed"},

		{name: "unknown kid", text: mustEncode(t, other, claims), want: "unknown_key"},
		{name: "empty trust list", keys: KeySet{}, text: mustEncode(t, ed, claims), want: "unknown_key"},
		{name: "issuer not the key's", text: build(t, ed, parts{claims: with(map[any]any{1: "CN-HZ"})}), want: "unknown_key"},
		{name: "unknown kid before expiry", now: exp.Add(time.Hour), text: mustEncode(t, other, claims), want: "unknown_key"},

		{name: "ES256 header on an Ed25519 key", text: build(t, ed, parts{protected: map[any]any{1: -7, 4: ed.KID[:]}}), want: "bad_signature"},
		{name: "EdDSA header on an ES256 key", text: build(t, es, parts{protected: map[any]any{1: -8, 4: es.KID[:]}}), want: "bad_signature"},
		{name: "alg RS256", text: build(t, ed, parts{protected: map[any]any{1: -257, 4: ed.KID[:]}}), want: "bad_signature"},
		{name: "alg ES384 with a P-256 key, properly signed", text: build(t, es, parts{protected: map[any]any{1: -35, 4: es.KID[:]}, signAlg: cose.AlgorithmES384}), want: "bad_signature"},
		{name: "signed by another key", text: build(t, other, parts{protected: defaultProtected(ed)}), want: "bad_signature"},
		{name: "signature bit flipped", text: build(t, ed, parts{signatureElem: flip(10)}), want: "bad_signature"},
		{name: "ES256 signature bit flipped", text: build(t, es, parts{signatureElem: flip(40)}), want: "bad_signature"},
		{name: "signature 63 bytes", text: build(t, ed, parts{signatureElem: func(b []byte) any { return b[:63] }}), want: "bad_signature"},
		{name: "claims changed after signing", text: build(t, ed, parts{payloadElem: flip(len(mustClaims(t)) - 1)}), want: "bad_signature"},
		{name: "key of the wrong type in the trust list", keys: NewKeySet(Key{KID: ed.KID, Alg: EdDSA, Public: es.Public(), NotBefore: testKeyFrom, NotAfter: testKeyTo, Issuer: testIssuer}),
			text: mustEncode(t, ed, claims), want: "bad_signature"},
		{name: "short Ed25519 key in the trust list", keys: NewKeySet(Key{KID: ed.KID, Alg: EdDSA, Public: ed.Public().(ed25519.PublicKey)[:31], NotBefore: testKeyFrom, NotAfter: testKeyTo, Issuer: testIssuer}),
			text: mustEncode(t, ed, claims), want: "bad_signature"},
		{name: "ECDSA key not on P-256 in the trust list", keys: NewKeySet(Key{KID: es.KID, Alg: ES256, Public: &ecdsa.PublicKey{}, NotBefore: testKeyFrom, NotAfter: testKeyTo, Issuer: testIssuer}),
			text: mustEncode(t, es, claims), want: "bad_signature"},
		{name: "bad signature before expiry", now: exp.Add(time.Hour), text: build(t, ed, parts{signatureElem: flip(0)}), want: "bad_signature"},

		{name: "iat before key's window", text: build(t, ed, parts{claims: with(map[any]any{6: testKeyFrom.Unix() - 1})}), want: "key_not_valid"},
		{name: "iat at key's exp", text: build(t, ed, parts{claims: with(map[any]any{6: testKeyTo.Unix()})}), want: "key_not_valid"},
		{name: "key not valid before expiry", now: testKeyTo.Add(time.Hour),
			text: build(t, ed, parts{claims: with(map[any]any{6: testKeyTo.Unix(), 4: testKeyTo.Unix() + 60})}), want: "key_not_valid"},

		{name: "nbf after now+skew", text: build(t, ed, parts{claims: with(map[any]any{5: testNow.Add(testSkew).Unix() + 1})}), want: "not_yet_valid"},
		{name: "not yet valid before expired", now: testIAT.Add(-time.Hour),
			text: build(t, ed, parts{claims: with(map[any]any{4: testIAT.Add(-2 * time.Hour).Unix()})}), want: "not_yet_valid"},

		{name: "exp at now-skew", now: exp.Add(testSkew), text: mustEncode(t, ed, claims), want: "expired"},
		{name: "exp long past", now: exp.Add(24 * time.Hour), text: mustEncode(t, es, claims), want: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.keys == nil {
				tt.keys = keys
			}
			if tt.now.IsZero() {
				tt.now = testNow
			}
			got, err := Verify(tt.text, tt.keys, tt.now, testSkew)
			if diff := cmp.Diff(tt.want, Reason(err)); diff != "" {
				t.Fatalf("Verify reason (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil {
				checkSentinel(t, err)
				if got != (Claims{}) {
					t.Errorf("Verify answered claims %+v with error %v", got, err)
				}
				return
			}
			want := claims
			if tt.claims != nil {
				tt.claims(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// mustClaims answers the encoded default claims.
func mustClaims(t testing.TB) []byte {
	t.Helper()
	b, err := encodeClaims(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"other error", errors.New("expired"), ""},
		{"malformed", ErrMalformed, "malformed"},
		{"wrapped unknown key", fmt.Errorf("lookup: %w", ErrUnknownKey), "unknown_key"},
		{"bad signature", ErrBadSignature, "bad_signature"},
		{"key not valid", ErrKeyNotValid, "key_not_valid"},
		{"not yet valid", ErrNotYetValid, "not_yet_valid"},
		{"expired", ErrExpired, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Reason(tt.err)); diff != "" {
				t.Errorf("Reason(%v) (-want +got):\n%s", tt.err, diff)
			}
		})
	}
}

func TestAlgString(t *testing.T) {
	t.Parallel()
	got := []string{EdDSA.String(), ES256.String(), Alg(-35).String()}
	if diff := cmp.Diff([]string{"EdDSA", "ES256", "Alg(-35)"}, got); diff != "" {
		t.Errorf("Alg names (-want +got):\n%s", diff)
	}
}
