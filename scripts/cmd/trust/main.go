// Command trust is the operator's tool for an issuer's keys and the signed
// trust list (infra/credential.md, "Keys" and "Trust list"):
//
//	trust init --issuer CN-SH --name Shanghai --out FILE [--alg EdDSA|ES256] [--lifetime 720h]
//	trust rotate --keys FILE [--lifetime 720h] [--overlap 168h]
//	trust root --keys FILE                      the public root JWK to pin (TRUST_ROOT_JWK)
//	trust signing-keys --keys FILE --out FILE   the ring without the private root (the issue function's secret)
//	trust publish --keys FILE [--peer FILE ...] --version N [--out FILE] [--peer-out FILE]
//	              [--max-offline-age 24h] [--refresh 1h]
//	trust verify --list FILE --root FILE|JWK    prints the verified list
//	trust demo-local [--dir .local/keys]        the local run's rings and list (what make run does)
//	trust document-keys --root FILE --keys FILE make, or rotate, the certificate document ring
//	                                            certified by the root in FILE (infra/certificates.md)
//	trust document-keys-secret --keys FILE [--out FILE]
//	                                            the checked value of DocumentKeysSecret
//
// Key files hold private keys: keep them off the repository. Uploading to
// Secrets Manager and DynamoDB is done with the AWS CLI (see credential.md).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/trust"
)

func main() {
	if err := realMain(os.Args[1:], os.Stdout, os.Stderr, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "trust:", err)
		os.Exit(2)
	}
}

const usage = "usage: trust init|rotate|root|signing-keys|publish|verify|demo-local|document-keys|document-keys-secret [flags] (trust CMD -h for flags)"

func realMain(args []string, stdout, stderr io.Writer, now time.Time) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("trust "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	keys := fs.String("keys", "", "key ring file")
	out := fs.String("out", "", "output file (default: standard output where allowed)")
	lifetime := fs.Duration("lifetime", trust.DefaultSigningKeyLifetime, "signing key lifetime")
	var run func() error
	switch args[0] {
	case "init":
		issuer := fs.String("issuer", "", "issuer id, e.g. CN-SH")
		name := fs.String("name", "", "display name, e.g. Shanghai")
		alg := fs.String("alg", "EdDSA", "signing key algorithm: EdDSA or ES256")
		run = func() error { return initRing(*issuer, *name, *alg, *out, now, *lifetime) }
	case "rotate":
		overlap := fs.Duration("overlap", trust.DefaultRotationOverlap, "make the next key this long before the newest ends")
		run = func() error { return rotate(*keys, now, *lifetime, *overlap, stdout) }
	case "root":
		run = func() error { return root(*keys, stdout) }
	case "signing-keys":
		run = func() error { return signingKeys(*keys, *out) }
	case "publish":
		var peers peerFlag
		fs.Var(&peers, "peer", "a peer file (infra/trust/peers/<ISSUER>.json); repeatable")
		version := fs.Int("version", 0, "list version, above every earlier one (required)")
		maxAge := fs.Duration("max-offline-age", trust.DefaultMaxOfflineAge, "how long gates may use the list offline")
		refresh := fs.Duration("refresh", trust.DefaultListRefresh, "next_update after issued_at")
		peerOut := fs.String("peer-out", "", "also write the peer file other cities import")
		run = func() error { return publish(*keys, peers, *version, now, *maxAge, *refresh, *out, *peerOut, stdout) }
	case "verify":
		list := fs.String("list", "", "file holding the list's compact JWS")
		rootArg := fs.String("root", "", "the pinned root: a public JWK, or a file holding one")
		run = func() error { return verify(*list, *rootArg, stdout) }
	case "demo-local":
		dir := fs.String("dir", ".local/keys", "directory of the local keys")
		run = func() error {
			_, _, sl, err := trust.EnsureLocal(*dir, now)
			if err == nil {
				fmt.Fprintf(stdout, "local keys in %s; list version %d\n", *dir, sl.List.Version)
			}
			return err
		}
	case "document-keys":
		rootFile := fs.String("root", "", "the issuer's full ring (with the private root), e.g. CN-SH.keys.json")
		run = func() error { return documentKeys(*rootFile, *keys, now, stdout) }
	case "document-keys-secret":
		run = func() error { return documentKeysSecret(*keys, *out, now, stdout) }
	default:
		return errors.New(usage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return run()
}

type peerFlag []string

func (p *peerFlag) String() string     { return strings.Join(*p, ",") }
func (p *peerFlag) Set(v string) error { *p = append(*p, v); return nil }

func initRing(issuer, name, alg, out string, now time.Time, lifetime time.Duration) error {
	if out == "" {
		return errors.New("--out is required")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; refusing to replace a key ring", out)
	}
	a := map[string]credential.Alg{"EdDSA": credential.EdDSA, "ES256": credential.ES256}[alg]
	if a == 0 {
		return fmt.Errorf("--alg %q: want EdDSA or ES256", alg)
	}
	r, err := trust.NewKeyRing(issuer, name, a, now, lifetime)
	if err != nil {
		return err
	}
	return trust.WriteKeyRingFile(out, r)
}

func rotate(keys string, now time.Time, lifetime, overlap time.Duration, stdout io.Writer) error {
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	changed, err := r.Rotate(now, lifetime, overlap)
	if err != nil {
		return err
	}
	if !changed {
		_, err := fmt.Fprintln(stdout, "no change")
		return err
	}
	if err := trust.WriteKeyRingFile(keys, r); err != nil {
		return err
	}
	for _, k := range r.Keys {
		fmt.Fprintf(stdout, "key %s .. %s\n", k.NotBefore.Format(time.RFC3339), k.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func root(keys string, stdout io.Writer) error {
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	j, err := r.RootJWK()
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(j)
}

func signingKeys(keys, out string) error {
	if out == "" {
		return errors.New("--out is required")
	}
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	return trust.WriteKeyRingFile(out, r.SigningOnly())
}

func publish(keys string, peerFiles []string, version int, now time.Time, maxAge, refresh time.Duration, out, peerOut string, stdout io.Writer) error {
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	var peers []trust.List
	for _, f := range peerFiles {
		l, err := trust.ReadPeerFile(f)
		if err != nil {
			return err
		}
		peers = append(peers, l)
	}
	signed, _, err := trust.Publish(r, peers, version, now, maxAge, refresh)
	if err != nil {
		return err
	}
	if peerOut != "" {
		pf, err := trust.NewPeerFile(r, signed)
		if err != nil {
			return err
		}
		if err := trust.WritePeerFile(peerOut, pf); err != nil {
			return err
		}
	}
	if out == "" {
		_, err = fmt.Fprintln(stdout, signed)
		return err
	}
	return os.WriteFile(out, []byte(signed+"\n"), 0o644)
}

func verify(listFile, rootArg string, stdout io.Writer) error {
	signed, err := os.ReadFile(listFile)
	if err != nil {
		return err
	}
	rootJWK := []byte(rootArg)
	if !strings.HasPrefix(strings.TrimSpace(rootArg), "{") {
		if rootJWK, err = os.ReadFile(rootArg); err != nil {
			return err
		}
	}
	pinned, err := trust.ParseRootJWK(rootJWK)
	if err != nil {
		return err
	}
	l, err := trust.VerifyList(strings.TrimSpace(string(signed)), pinned)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

// documentKeys makes the certificate document ring at keys (keys certified
// by the root of the ring in rootFile; the file never holds the private
// root) or rotates it: 90-day keys, the successor 14 days ahead
// (certificates.EnsureDocumentKeys). Retired keys leave the ring; their
// public parts stay published from the certificates function's archive.
func documentKeys(rootFile, keys string, now time.Time, stdout io.Writer) error {
	if rootFile == "" || keys == "" {
		return errors.New("--root and --keys are required")
	}
	root, err := trust.ReadKeyRingFile(rootFile)
	if err != nil {
		return err
	}
	if root.RootPrivate == nil {
		return fmt.Errorf("%s: %w", rootFile, trust.ErrNoRootKey)
	}
	if err := certificates.EnsureDocumentKeys(keys, root, now); err != nil {
		return err
	}
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	for _, k := range r.Keys {
		fmt.Fprintf(stdout, "document key %s .. %s\n", k.NotBefore.Format(time.RFC3339), k.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// documentKeysSecret writes the value of DocumentKeysSecret: the document
// ring at keys as one line of JSON, after checking what the function
// checks at cold start (Ed25519 keys certified by the ring's root) and
// more: no private root, and a key that signs now.
func documentKeysSecret(keys, out string, now time.Time, stdout io.Writer) error {
	r, err := trust.ReadKeyRingFile(keys)
	if err != nil {
		return err
	}
	if r.RootPrivate != nil {
		return fmt.Errorf("%s holds the private root: not a document ring", keys)
	}
	if _, err := certificates.NewDocumentKeys(r, r.Root, ""); err != nil {
		return err
	}
	if _, err := r.Signer(now); err != nil {
		return fmt.Errorf("%w: run document-keys first", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o600)
}
