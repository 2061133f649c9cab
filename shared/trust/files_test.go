package trust

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/secretstore"
)

func mapEnv(m map[string]string) app.Env { return func(k string) string { return m[k] } }

func TestLoadKeyRingFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mustRing(t, "CN-SH", credential.EdDSA)
	path := filepath.Join(dir, "CN-SH.keys.json")
	if err := WriteKeyRingFile(path, r); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	damaged := filepath.Join(dir, "damaged.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, []byte(strings.Replace(string(b), `"exp": `, `"exp": 1`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"the file", map[string]string{"SIGNING_KEYS_FILE": path}, false},
		{"the file wins over the secret", map[string]string{"SIGNING_KEYS_FILE": path, "SIGNING_KEYS_SECRET_ARN": "arn:aws:secretsmanager:cn-north-1:1:secret:x"}, false},
		{"a damaged file", map[string]string{"SIGNING_KEYS_FILE": damaged}, true},
		{"a missing file", map[string]string{"SIGNING_KEYS_FILE": filepath.Join(dir, "none.json")}, true},
		{"nothing configured", map[string]string{}, true},
		{"a secret that cannot be read", map[string]string{"SIGNING_KEYS_SECRET_ARN": "arn:aws:secretsmanager:cn-north-1:1:secret:x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadKeyRing(t.Context(), mapEnv(tt.env), noSecrets)
			if (err != nil) != tt.wantErr {
				t.Fatalf("LoadKeyRing = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(mustJSON(t, r), mustJSON(t, got)); diff != "" {
					t.Errorf("ring (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// noSecrets is the SecretReader of a run with no secret store.
func noSecrets(context.Context, string) (string, error) {
	return "", errors.New("no secret store here")
}

// TestLoadKeyRingFromSecretsManager reads a signing-only ring from a secret
// in moto_server (skipped where moto_server is not installed).
func TestLoadKeyRingFromSecretsManager(t *testing.T) {
	t.Parallel()
	cfg := mototest.Config(mototest.StartMoto(t))
	r := mustRing(t, "CN-SH", credential.EdDSA).SigningOnly()
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("citycode/signing-keys"), SecretString: aws.String(mustJSON(t, r)),
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets := secretstore.New(cfg)
	got, err := LoadKeyRing(t.Context(), mapEnv(map[string]string{"SIGNING_KEYS_SECRET_ARN": aws.ToString(out.ARN)}), secrets.Read)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mustJSON(t, r), mustJSON(t, got)); diff != "" {
		t.Errorf("ring (-want +got):\n%s", diff)
	}
	if _, err := got.Signer(t0.Add(time.Hour)); err != nil {
		t.Errorf("no signer from the secret's ring: %v", err)
	}
	_, err = LoadKeyRing(t.Context(), mapEnv(map[string]string{"SIGNING_KEYS_SECRET_ARN": "citycode/none"}), secrets.Read)
	if err == nil {
		t.Error("a missing secret loaded")
	}
}

func TestPeerFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hz := mustRing(t, "CN-HZ", credential.EdDSA)
	sh := mustRing(t, "CN-SH", credential.EdDSA)
	hzSigned, hzList := mustPublish(t, hz, 2, t0)
	shSigned, _ := mustPublish(t, sh, 2, t0)
	good, err := NewPeerFile(hz, hzSigned)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    PeerFile
		wantErr bool
	}{
		{"Hangzhou's file", good, false},
		{"named for another issuer", PeerFile{Issuer: "CN-SH", Root: good.Root, Signed: good.Signed}, true},
		{"another city's list under Hangzhou's root", PeerFile{Issuer: "CN-HZ", Root: good.Root, Signed: shSigned}, true},
		{"a private root", PeerFile{Issuer: "CN-HZ", Root: es256JWK(t), Signed: good.Signed}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strconv.Itoa(i)+".json")
			if err := WritePeerFile(path, tt.file); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPeerFile(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReadPeerFile = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(hzList, got, ignoreIndex); diff != "" {
					t.Errorf("list (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestEnsureLocal: the first run makes both rings, later runs keep them
// (rotating when due), and every run's list verifies against the root file
// and makes a Hangzhou code verify at a gate.
func TestEnsureLocal(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	paths := LocalPaths(dir)
	var firstRoot []byte
	for i, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(lifetime - overlap)} {
		home, peer, sl, err := EnsureLocal(dir, at)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		rootJSON, err := os.ReadFile(paths.HomeRoot)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			firstRoot = rootJSON
		} else if string(rootJSON) != string(firstRoot) {
			t.Errorf("run %d: the home root changed", i)
		}
		root, err := ParseRootJWK(rootJSON)
		if err != nil {
			t.Fatal(err)
		}
		listFile, err := os.ReadFile(paths.List)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(listFile)) != sl.Signed || sl.List.Version != int(at.Unix()) {
			t.Errorf("run %d: list file or version differs", i)
		}
		gate := NewGate(root)
		if err := gate.Update(sl.Signed, at); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		for _, r := range []*KeyRing{home, peer} {
			code, _ := mustCode(t, r, at)
			if _, err := gate.Verify(code, at, skew); err != nil {
				t.Errorf("run %d: %s code: %v", i, r.Issuer, err)
			}
		}
		if wantKeys := map[int]int{0: 1, 1: 1, 2: 2}[i]; len(home.Keys) != wantKeys || len(peer.Keys) != wantKeys {
			t.Errorf("run %d: %d home and %d peer keys, want %d", i, len(home.Keys), len(peer.Keys), wantKeys)
		}
		saved, err := ReadKeyRingFile(paths.HomeKeys)
		if err != nil {
			t.Fatal(err)
		}
		if len(saved.Keys) != len(home.Keys) {
			t.Errorf("run %d: the rotated ring was not saved", i)
		}
	}
	if _, err := ReadPeerFile(paths.PeerFile); err != nil {
		t.Errorf("peer file: %v", err)
	}
	var hz struct{ Issuer string }
	b, err := os.ReadFile(paths.PeerKeys)
	if err != nil || json.Unmarshal(b, &hz) != nil || hz.Issuer != "CN-HZ" {
		t.Errorf("peer ring file: %s, %v", b, err)
	}
}
