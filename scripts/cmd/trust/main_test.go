package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
