package certificates

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/trust"
)

// documentKeys makes an issuer ring and a document ring certified by its
// root, as localenv does for a local run.
func documentKeys(t *testing.T, now time.Time) (*trust.KeyRing, *DocumentKeys) {
	t.Helper()
	home, err := trust.Generate("CN-SH", "Shanghai", now, trust.DefaultSigningKeyLifetime)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "document-keys.json")
	if err := EnsureDocumentKeys(path, home, now); err != nil {
		t.Fatal(err)
	}
	ring, err := trust.ReadKeyRingFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ring.RootPrivate != nil {
		t.Fatal("the document ring holds the private root")
	}
	keys, err := NewDocumentKeys(ring, home.Root, "")
	if err != nil {
		t.Fatal(err)
	}
	return home, keys
}

func samplePayload() DocumentPayload {
	until := "2032-01-05"
	return DocumentPayload{ID: "crt_x#v1", Certificate: DocumentContent{CertificateID: "crt_x", Version: 1, Category: "driving_licence",
		IssuerOrg: "police-demo", Status: StatusActive, ValidFrom: "2026-01-05", ValidUntil: &until,
		IssuedAt: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), Fields: json.RawMessage(`{"name":"样例甲","licence_class":"C1"}`)}}
}

func TestDocumentVerifiesWithThePublishedKeyAndFailsAfterAnyByteChanges(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	home, keys := documentKeys(t, now)
	doc, err := keys.Sign(samplePayload(), now)
	if err != nil {
		t.Fatal(err)
	}
	published, err := keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyDocument(doc, published, home.Root)
	if err != nil {
		t.Fatalf("VerifyDocument: %v", err)
	}
	want := samplePayload()
	want.Issuer, want.IssuedAt = "CN-SH", now.Unix()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}

	for i := range len(doc) {
		for _, flip := range []byte{0x01, 0x20} {
			b := []byte(doc)
			b[i] ^= flip
			if _, err := VerifyDocument(string(b), published, home.Root); !errors.Is(err, ErrBadDocument) {
				t.Fatalf("byte %d ^ %#x: %v, want ErrBadDocument", i, flip, err)
			}
		}
	}
	for name, d := range map[string]string{"trailing newline": doc + "\n", "leading space": " " + doc, "extra part": doc + ".AA", "empty": ""} {
		if _, err := VerifyDocument(d, published, home.Root); !errors.Is(err, ErrBadDocument) {
			t.Errorf("%s: %v, want ErrBadDocument", name, err)
		}
	}
}

func TestDocumentNeedsTheKeyCertifiedByThePinnedRoot(t *testing.T) {
	t.Parallel()
	now := time.Now()
	home, keys := documentKeys(t, now)
	other, otherKeys := documentKeys(t, now)
	doc, err := keys.Sign(samplePayload(), now)
	if err != nil {
		t.Fatal(err)
	}
	published, _ := keys.JWKS()
	otherPublished, _ := otherKeys.JWKS()
	for name, tc := range map[string]struct {
		keys []trust.CertifiedKey
		root *trust.KeyRing
	}{
		"another city's root":   {published, other},
		"another key set":       {otherPublished, home},
		"no keys":               {nil, home},
		"a cert of another key": {[]trust.CertifiedKey{{JWK: published[0].JWK, NotBefore: published[0].NotBefore, NotAfter: published[0].NotAfter, Cert: otherPublished[0].Cert}}, home},
	} {
		if _, err := VerifyDocument(doc, tc.keys, tc.root.Root); !errors.Is(err, ErrBadDocument) {
			t.Errorf("%s: %v, want ErrBadDocument", name, err)
		}
	}
	if _, err := NewDocumentKeys(keys.ring, other.Root, ""); err == nil {
		t.Error("NewDocumentKeys accepted a ring certified by another root")
	}
	// Signed outside every key's window: no document.
	if _, err := keys.Sign(samplePayload(), now.Add(-time.Hour)); !errors.Is(err, trust.ErrNoSigningKey) {
		t.Errorf("sign before the key's window: %v", err)
	}
}

// TestDocumentCarriesStatusURL: with a public base URL (PUBLIC_BASE_URL)
// the document names its certificate's public status route; without one
// it has no status_url member at all; a base URL that is not an absolute
// http(s) URL fails at load.
func TestDocumentCarriesStatusURL(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	home, keys := documentKeys(t, now)
	for _, tc := range []struct {
		base, want string
		bad        bool
	}{
		{base: "", want: ""},
		{base: "https://api.citycode.example", want: "https://api.citycode.example/v1/certificates/crt_x/status"},
		{base: "http://127.0.0.1:3000/", want: "http://127.0.0.1:3000/v1/certificates/crt_x/status"},
		{base: "https://gw.example/prod", want: "https://gw.example/prod/v1/certificates/crt_x/status"},
		{base: "api.citycode.example", bad: true},
		{base: "ftp://api.citycode.example", bad: true},
		{base: "https://api.citycode.example/?a=1", bad: true},
		{base: "https://api.citycode.example/#x", bad: true},
		{base: "https://user@api.citycode.example", bad: true},
	} {
		k, err := NewDocumentKeys(keys.ring, home.Root, tc.base)
		if tc.bad {
			if err == nil {
				t.Errorf("base %q accepted", tc.base)
			}
			continue
		}
		if err != nil {
			t.Fatalf("base %q: %v", tc.base, err)
		}
		doc, err := k.Sign(samplePayload(), now)
		if err != nil {
			t.Fatal(err)
		}
		published, _ := k.JWKS()
		got, err := VerifyDocument(doc, published, home.Root)
		if err != nil {
			t.Fatal(err)
		}
		want := samplePayload()
		want.Issuer, want.IssuedAt, want.StatusURL = "CN-SH", now.Unix(), tc.want
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("base %q: payload (-want +got):\n%s", tc.base, diff)
		}
		payload, _ := b64.DecodeString(strings.Split(doc, ".")[1])
		if has := strings.Contains(string(payload), `"status_url"`); has != (tc.want != "") {
			t.Errorf("base %q: payload %s", tc.base, payload)
		}
	}
}
