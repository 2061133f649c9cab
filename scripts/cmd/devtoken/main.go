// Command devtoken prints a JWT that the local run (`make run`) accepts:
//
//	scripts/devtoken --sub demo-resident-1 --scope resident
//	scripts/devtoken --sub gate-0001 --scope "scan:transit" --org metro --ttl 8h
//
// The token is signed with the local key in .local/devauth (made on first
// use), for the issuer and audience of shared/devauth.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/localstack"
)

func main() {
	if err := realMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(2)
	}
}

func realMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject: the resident or machine client (required)")
	scope := fs.String("scope", "", `space-separated scopes, e.g. "resident" or "scan:transit scan:venue"`)
	org := fs.String("org", "", "organisation of a machine client")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: scripts/devtoken --sub ID --scope "SCOPE ..." [--org ORG] [--ttl 1h]`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *sub == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("--sub is required, and nothing may follow the flags")
	}
	root, err := localstack.RepoRoot(".")
	if err != nil {
		return err
	}
	auth, err := devauth.Open(filepath.Join(root, localstack.LocalDir, "devauth"))
	if err != nil {
		return err
	}
	tok, err := auth.Issue(*sub, strings.Fields(*scope), *org, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
