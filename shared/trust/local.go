package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The issuers of the local demo: the home city and one peer.
const (
	LocalHomeIssuer = "CN-SH"
	LocalPeerIssuer = "CN-HZ"
)

// LocalFiles names what EnsureLocal writes under its directory.
type LocalFiles struct {
	// HomeKeys and PeerKeys are the two rings (private; SIGNING_KEYS_FILE
	// is HomeKeys).
	HomeKeys, PeerKeys string
	// HomeRoot is the home root's public JWK (TRUST_ROOT_JWK, a gate's pin).
	HomeRoot string
	// PeerFile is the peer's list as another city would receive it.
	PeerFile string
	// List is the home list's compact JWS.
	List string
}

// LocalPaths answers where EnsureLocal keeps its files under dir.
func LocalPaths(dir string) LocalFiles {
	return LocalFiles{
		HomeKeys: filepath.Join(dir, LocalHomeIssuer+".keys.json"),
		PeerKeys: filepath.Join(dir, LocalPeerIssuer+".keys.json"),
		HomeRoot: filepath.Join(dir, LocalHomeIssuer+".root.jwk.json"),
		PeerFile: filepath.Join(dir, "peers", LocalPeerIssuer+".json"),
		List:     filepath.Join(dir, "trust-list.jws"),
	}
}

// EnsureLocal prepares the keys of a local run in dir (.local/keys): the
// home ring CN-SH (Shanghai) and a demo peer ring CN-HZ (Hangzhou), made on
// first run and kept (then rotated) on later ones. It publishes Hangzhou's
// own list, imports it as a peer, and publishes the home list with version
// now in Unix seconds, so each run's list is newer than the last. It writes
// the files of LocalPaths and answers the rings and the home list.
func EnsureLocal(dir string, now time.Time) (home, peer *KeyRing, list SignedList, err error) {
	paths := LocalPaths(dir)
	if err := os.MkdirAll(filepath.Dir(paths.PeerFile), 0o700); err != nil {
		return nil, nil, SignedList{}, fmt.Errorf("trust: %w", err)
	}
	if home, err = ensureRing(paths.HomeKeys, LocalHomeIssuer, "Shanghai", now); err != nil {
		return nil, nil, SignedList{}, err
	}
	if peer, err = ensureRing(paths.PeerKeys, LocalPeerIssuer, "Hangzhou", now); err != nil {
		return nil, nil, SignedList{}, err
	}
	version := int(now.Unix())
	peerSigned, _, err := Publish(peer, nil, version, now, DefaultMaxOfflineAge, DefaultListRefresh)
	if err != nil {
		return nil, nil, SignedList{}, err
	}
	pf, err := NewPeerFile(peer, peerSigned)
	if err != nil {
		return nil, nil, SignedList{}, err
	}
	if err := WritePeerFile(paths.PeerFile, pf); err != nil {
		return nil, nil, SignedList{}, err
	}
	peerList, err := ReadPeerFile(paths.PeerFile)
	if err != nil {
		return nil, nil, SignedList{}, err
	}
	signed, l, err := Publish(home, []List{peerList}, version, now, DefaultMaxOfflineAge, DefaultListRefresh)
	if err != nil {
		return nil, nil, SignedList{}, err
	}
	root, err := home.RootJWK()
	if err != nil {
		return nil, nil, SignedList{}, err
	}
	if err := writeJSON(paths.HomeRoot, root, 0o644); err != nil {
		return nil, nil, SignedList{}, err
	}
	if err := writeFile(paths.List, []byte(signed+"\n"), 0o644); err != nil {
		return nil, nil, SignedList{}, err
	}
	return home, peer, SignedList{Signed: signed, List: l}, nil
}

// ensureRing reads the ring at path, or generates it, rotates it as of now
// with the default lifetime and overlap, and writes it back if it changed.
func ensureRing(path, issuer, name string, now time.Time) (*KeyRing, error) {
	r, err := ReadKeyRingFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if r, err = Generate(issuer, name, now, DefaultSigningKeyLifetime); err != nil {
			return nil, err
		}
		return r, WriteKeyRingFile(path, r)
	case err != nil:
		return nil, err
	case r.Issuer != issuer:
		return nil, fmt.Errorf("trust: %s holds issuer %s, want %s", path, r.Issuer, issuer)
	}
	changed, err := r.Rotate(now, DefaultSigningKeyLifetime, DefaultRotationOverlap)
	if err != nil {
		return nil, err
	}
	if changed {
		err = WriteKeyRingFile(path, r)
	}
	return r, err
}
