package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/credential"
)

// SecretReader answers the string of the secret named id (an ARN or a
// name); shared/secretstore reads Secrets Manager.
type SecretReader func(ctx context.Context, id string) (string, error)

// LoadKeyRing loads the issuer's key ring once per cold start: from the
// file SIGNING_KEYS_FILE (local runs), else from the secret
// SIGNING_KEYS_SECRET_ARN read with readSecret, whose string is the ring's
// JSON. Package trust does not read Secrets Manager itself, so that
// qr-verify, which links trust but needs no secret, does not link the
// Secrets Manager client (about 1 ms of package initialisation per cold
// start).
func LoadKeyRing(ctx context.Context, env app.Env, readSecret SecretReader) (*KeyRing, error) {
	if path := env("SIGNING_KEYS_FILE"); path != "" {
		return ReadKeyRingFile(path)
	}
	arn := env("SIGNING_KEYS_SECRET_ARN")
	if arn == "" {
		return nil, errors.New("trust: neither SIGNING_KEYS_FILE nor SIGNING_KEYS_SECRET_ARN is set")
	}
	secret, err := readSecret(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("trust: read signing keys secret: %w", err)
	}
	var r KeyRing
	if err := json.Unmarshal([]byte(secret), &r); err != nil {
		return nil, fmt.Errorf("trust: signing keys secret: %w", err)
	}
	return &r, nil
}

// ReadKeyRingFile reads a ring written by WriteKeyRingFile.
func ReadKeyRingFile(path string) (*KeyRing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	var r KeyRing
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("trust: %s: %w", path, err)
	}
	return &r, nil
}

// WriteKeyRingFile writes the ring's JSON, readable by its owner only.
func WriteKeyRingFile(path string, r *KeyRing) error {
	return writeJSON(path, r, 0o600)
}

// PeerFile is how a peer city's list reaches the operator
// (infra/trust/peers/<ISSUER>.json): public data only. Root is the peer's
// root, checked out of band when the file is first committed.
type PeerFile struct {
	Issuer string         `json:"issuer"`
	Root   credential.JWK `json:"root"`
	Signed string         `json:"signed"`
}

// NewPeerFile answers the peer file another city imports to trust r's codes,
// for signed, a list r published.
func NewPeerFile(r *KeyRing, signed string) (PeerFile, error) {
	root, err := r.RootJWK()
	if err != nil {
		return PeerFile{}, err
	}
	return PeerFile{Issuer: r.Issuer, Root: root, Signed: signed}, nil
}

// ReadPeerFile reads a peer file and imports its list (ImportPeer against
// the file's root), checking the list is the named issuer's own.
func ReadPeerFile(path string) (List, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return List{}, fmt.Errorf("trust: %w", err)
	}
	var p PeerFile
	if err := json.Unmarshal(b, &p); err != nil {
		return List{}, fmt.Errorf("trust: %s: %w", path, err)
	}
	root, err := rootKey(p.Root)
	if err != nil {
		return List{}, fmt.Errorf("trust: %s: %w", path, err)
	}
	l, err := ImportPeer(p.Signed, root)
	if err != nil {
		return List{}, fmt.Errorf("trust: %s: %w", path, err)
	}
	if own, err := l.own(); err != nil || own.Issuer != p.Issuer {
		return List{}, fmt.Errorf("trust: %s: the list is not issuer %s's own", path, p.Issuer)
	}
	return l, nil
}

// WritePeerFile writes a peer file.
func WritePeerFile(path string, p PeerFile) error {
	return writeJSON(path, p, 0o644)
}

// writeJSON writes v as indented JSON through a temporary file and a
// rename, so a reader never sees half a file.
func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("trust: %s: %w", path, err)
	}
	return writeFile(path, append(b, '\n'), perm)
}

func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), perm)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("trust: write %s: %w", path, err)
	}
	return nil
}
