package credential

import (
	"errors"
	"testing"
)

// FuzzDecode feeds Decode and Verify any text: they never panic, and every
// error wraps exactly one reason (only ErrMalformed from Decode).
func FuzzDecode(f *testing.F) {
	ed, es := mustSigner(f, testEd25519()), mustSigner(f, testP256(f))
	keys := NewKeySet(keyFor(ed), keyFor(es))
	for _, text := range []string{
		mustEncode(f, ed, testClaims()),
		mustEncode(f, es, testClaims()),
		build(f, ed, parts{protected: map[any]any{1: -8, 2: []any{3}, 3: "x", 4: ed.KID[:]}}),
		build(f, ed, parts{claims: with(map[any]any{8: []any{1, "x"}})}),
		build(f, ed, parts{untagged: true}),
		"", Prefix, "CC1:BB8", "CC1:GGW",
	} {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Decode(text)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			checkSentinel(t, err)
		} else if p.Claims.Issuer == "" || p.Claims.Expires.Unix() <= 0 {
			t.Fatalf("Decode accepted claims %+v", p.Claims)
		}
		claims, err := Verify(text, keys, testNow, testSkew)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if claims != p.Claims {
			t.Fatalf("Verify answered %+v, Decode %+v", claims, p.Claims)
		}
	})
}
