package credential

import (
	"strings"
	"testing"
)

// TestKindsDoNotMix checks that a reference verifies only as a reference
// and a code only as a code, with the same keys and claims.
func TestKindsDoNotMix(t *testing.T) {
	t.Parallel()
	ed := mustSigner(t, testEd25519())
	keys := NewKeySet(keyFor(ed))
	code := mustEncode(t, ed, testClaims())
	ref, err := EncodeAs(ReferencePrefix, ed, testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, ReferencePrefix) || strings.TrimPrefix(ref, ReferencePrefix) != strings.TrimPrefix(code, Prefix) {
		t.Fatalf("reference %q is not the code %q behind CR1:", ref, code)
	}
	for _, tc := range []struct {
		name, prefix, text, want string
	}{
		{"code as code", Prefix, code, ""},
		{"reference as reference", ReferencePrefix, ref, ""},
		{"reference as code", Prefix, ref, "malformed"},
		{"code as reference", ReferencePrefix, code, "malformed"},
		{"unknown kind", "HC1:", "HC1:" + strings.TrimPrefix(code, Prefix), "malformed"},
	} {
		_, err := VerifyAs(tc.prefix, tc.text, keys, testNow, testSkew)
		if got := Reason(err); got != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := EncodeAs("HC1:", ed, testClaims()); err == nil {
		t.Error("EncodeAs took an unknown prefix")
	}
}
