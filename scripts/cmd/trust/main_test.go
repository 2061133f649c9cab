package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/trust"
)

// TestOperatorFlow runs the tool as an operator would: two cities make
// rings, Hangzhou hands over its peer file, Shanghai rotates, publishes with
// the peer and verifies the result against its pinned root.
func TestOperatorFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		args    []string
		at      time.Time
		wantOut string // a substring of standard output
		wantErr bool
	}{
		{args: []string{"init", "--issuer", "CN-SH", "--name", "Shanghai", "--out", p("sh.json")}},
		{args: []string{"init", "--issuer", "CN-SH", "--name", "Shanghai", "--out", p("sh.json")}, wantErr: true},
		{args: []string{"init", "--issuer", "CN-HZ", "--name", "Hangzhou", "--alg", "ES256", "--out", p("hz.json")}},
		{args: []string{"init", "--issuer", "CN-BJ", "--alg", "RS256", "--out", p("bj.json")}, wantErr: true},
		{args: []string{"publish", "--keys", p("hz.json"), "--version", "1", "--out", p("hz.jws"), "--peer-out", p("CN-HZ.json")}},
		{args: []string{"rotate", "--keys", p("sh.json")}, at: now.Add(time.Hour), wantOut: "no change"},
		{args: []string{"rotate", "--keys", p("sh.json")}, at: now.Add(23 * 24 * time.Hour), wantOut: "2026-12-01T00:00:00Z .. 2026-12-31T00:00:00Z"},
		{args: []string{"root", "--keys", p("sh.json")}, wantOut: `"crv":"Ed25519"`},
		{args: []string{"signing-keys", "--keys", p("sh.json"), "--out", p("sh-signing.json")}},
		{args: []string{"publish", "--keys", p("sh-signing.json"), "--version", "1", "--out", p("x.jws")}, wantErr: true},
		{args: []string{"publish", "--keys", p("sh.json"), "--version", "0"}, wantErr: true},
		{args: []string{"publish", "--keys", p("sh.json"), "--peer", p("CN-HZ.json"), "--version", "2", "--out", p("sh.jws")}},
		{args: []string{"verify", "--list", p("sh.jws"), "--root", p("sh.root.json")}, wantOut: `"issuer": "CN-HZ"`},
		{args: []string{"verify", "--list", p("hz.jws"), "--root", p("sh.root.json")}, wantErr: true},
		{args: []string{"demo-local", "--dir", p("local")}, wantOut: "list version"},
		{args: []string{"frobnicate"}, wantErr: true},
	}
	for _, st := range steps {
		at := st.at
		if at.IsZero() {
			at = now
		}
		var stdout, stderr bytes.Buffer
		err := realMain(st.args, &stdout, &stderr, at)
		if (err != nil) != st.wantErr {
			t.Fatalf("trust %s: %v (stderr %s), want error %v", strings.Join(st.args, " "), err, &stderr, st.wantErr)
		}
		if !strings.Contains(stdout.String(), st.wantOut) {
			t.Errorf("trust %s printed %q, want it to contain %q", strings.Join(st.args, " "), &stdout, st.wantOut)
		}
		if st.args[0] == "root" {
			if err := os.WriteFile(p("sh.root.json"), stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var signing struct {
		Root struct{ D string }
		Keys []struct{ D string }
	}
	b, err := os.ReadFile(p("sh-signing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &signing); err != nil {
		t.Fatal(err)
	}
	if len(signing.Keys) != 2 || signing.Root.D != "" || signing.Keys[0].D == "" {
		t.Errorf("signing-only ring: root d %q, %d keys", signing.Root.D, len(signing.Keys))
	}
}

// TestDocumentKeysOperatorFlow makes the certificate document ring from the
// root file, rotates it past its first key's end, and writes the value of
// DocumentKeysSecret, which the certificates function loads (against the
// pinned root) and signs with; the value never holds the private root.
func TestDocumentKeysOperatorFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	steps := []struct {
		args    []string
		at      time.Duration // after now
		wantOut string        // a substring of standard output
		wantErr bool
	}{
		{args: []string{"init", "--issuer", "CN-SH", "--name", "Shanghai", "--out", p("sh.json")}},
		{args: []string{"signing-keys", "--keys", p("sh.json"), "--out", p("sh-signing.json")}},
		{args: []string{"document-keys", "--keys", p("doc.json")}, wantErr: true},
		{args: []string{"document-keys", "--root", p("sh-signing.json"), "--keys", p("doc.json")}, wantErr: true},
		{args: []string{"document-keys-secret", "--keys", p("doc.json")}, wantErr: true},
		{args: []string{"document-keys", "--root", p("sh.json"), "--keys", p("doc.json")}, wantOut: "document key 2026-11-01T00:00:00Z .. 2027-01-30T00:00:00Z\n"},
		{args: []string{"document-keys-secret", "--keys", p("sh.json")}, wantErr: true},
		{args: []string{"document-keys", "--root", p("sh.json"), "--keys", p("doc.json")}, at: 80 * day, wantOut: "document key 2027-01-30T00:00:00Z .. 2027-04-30T00:00:00Z\n"},
		{args: []string{"document-keys", "--root", p("sh.json"), "--keys", p("doc.json")}, at: 94 * day, wantOut: "document key 2027-01-30T00:00:00Z .. 2027-04-30T00:00:00Z\n"},
		{args: []string{"document-keys-secret", "--keys", p("doc.json")}, at: 400 * day, wantErr: true},
		{args: []string{"document-keys-secret", "--keys", p("doc.json"), "--out", p("doc.secret.json")}, at: 94 * day},
	}
	for _, st := range steps {
		var stdout, stderr bytes.Buffer
		err := realMain(st.args, &stdout, &stderr, now.Add(st.at))
		if (err != nil) != st.wantErr {
			t.Fatalf("trust %s: %v (stderr %s), want error %v", strings.Join(st.args, " "), err, &stderr, st.wantErr)
		}
		if !strings.Contains(stdout.String(), st.wantOut) {
			t.Errorf("trust %s printed %q, want it to contain %q", strings.Join(st.args, " "), &stdout, st.wantOut)
		}
	}
	if b, _ := os.ReadFile(p("doc.json")); bytes.Count(b, []byte(`"cert"`)) != 1 {
		t.Errorf("after rotation the ring holds other than the successor:\n%s", b)
	}

	secret, err := os.ReadFile(p("doc.secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	var value struct {
		Root struct{ D string }
		Keys []struct{ D string }
	}
	if err := json.Unmarshal(secret, &value); err != nil || value.Root.D != "" || len(value.Keys) != 1 || value.Keys[0].D == "" {
		t.Fatalf("secret value: root d %q, keys %+v, %v", value.Root.D, value.Keys, err)
	}
	var rootOut bytes.Buffer
	if err := realMain([]string{"root", "--keys", p("sh.json")}, &rootOut, io.Discard, now); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DOCUMENT_KEYS_SECRET_ARN": "arn:doc", "TRUST_ROOT_JWK": rootOut.String(), "PUBLIC_BASE_URL": "https://api.citycode.example"}
	keys, err := certificates.LoadDocumentKeys(t.Context(), func(k string) string { return env[k] }, func(_ context.Context, id string) (string, error) {
		return string(secret), nil
	})
	if err != nil {
		t.Fatalf("the function cannot load the secret: %v", err)
	}
	at := now.Add(92 * day)
	doc, err := keys.Sign(certificates.DocumentPayload{ID: "crt_x#v1", Certificate: certificates.DocumentContent{CertificateID: "crt_x", Fields: json.RawMessage(`{}`)}}, at)
	if err != nil {
		t.Fatal(err)
	}
	published, err := keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	sh, err := trust.ReadKeyRingFile(p("sh.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := certificates.VerifyDocument(doc, published, sh.Root)
	if err != nil {
		t.Errorf("a document signed with the secret's key: %v", err)
	}
	if want := "https://api.citycode.example/v1/certificates/crt_x/status"; got.StatusURL != want {
		t.Errorf("status_url %q, want %q (PUBLIC_BASE_URL)", got.StatusURL, want)
	}
}
