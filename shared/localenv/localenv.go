// Package localenv makes what a deployed stack keeps in Secrets Manager and
// its trust table, for a local run or a test: the document-index key, the
// issuer's signing keys and a published trust list. Everything is generated
// on this machine (under .local/ for make run, a temp dir for tests); no key
// is ever in the repository.
package localenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/trust"
)

// Secrets are the local stand-ins, as function environment variables, and
// the key rings behind them.
type Secrets struct {
	// Env holds DOCUMENT_KEY, SIGNING_KEYS_FILE, TRUST_ROOT_JWK and
	// DOCUMENT_KEYS_FILE (certificate documents), and for
	// the trust publisher ROOT_KEYS_FILE and TRUST_PEER_FILES.
	Env map[string]string
	// Home and Peer are the local issuers: CN-SH and the demo second city
	// CN-HZ, whose codes verify through the imported peer list.
	Home, Peer *trust.KeyRing
}

// Prepare makes (or reuses) the secrets in dir and publishes the trust list
// into the trust table.
func Prepare(ctx context.Context, dir string, db *dynamolite.Client, trustTable string, now time.Time) (Secrets, error) {
	docKey, err := documentKey(filepath.Join(dir, "document-key"))
	if err != nil {
		return Secrets{}, err
	}
	keysDir := filepath.Join(dir, "keys")
	home, peer, list, err := trust.EnsureLocal(keysDir, now)
	if err != nil {
		return Secrets{}, err
	}
	paths := trust.LocalPaths(keysDir)
	// Certificate documents are signed by keys the home root certifies.
	documentKeys := filepath.Join(keysDir, trust.LocalHomeIssuer+".document-keys.json")
	if err := certificates.EnsureDocumentKeys(documentKeys, home, now); err != nil {
		return Secrets{}, err
	}
	root, err := os.ReadFile(paths.HomeRoot)
	if err != nil {
		return Secrets{}, fmt.Errorf("localenv: %w", err)
	}
	err = trust.NewStore(db, trustTable).Put(ctx, list.Signed, list.List.Version)
	if err != nil && !errors.Is(err, trust.ErrVersionNotNewer) {
		return Secrets{}, err
	}
	return Secrets{
		Env: map[string]string{
			"DOCUMENT_KEY":       docKey,
			"SIGNING_KEYS_FILE":  paths.HomeKeys,
			"ROOT_KEYS_FILE":     paths.HomeKeys,
			"TRUST_PEER_FILES":   paths.PeerFile,
			"TRUST_ROOT_JWK":     strings.TrimSpace(string(root)),
			"DOCUMENT_KEYS_FILE": documentKeys,
		},
		Home: home, Peer: peer,
	}, nil
}

// documentKey returns the hex HMAC key of the document index kept in path,
// making it (32 random bytes, mode 0600) the first time.
func documentKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("document key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("document key: %w", err)
	}
	s := hex.EncodeToString(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("document key: %w", err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("document key: %w", err)
	}
	return s, nil
}
