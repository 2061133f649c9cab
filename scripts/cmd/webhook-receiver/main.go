// Command webhook-receiver is a small webhook endpoint for local runs and
// demos: it listens on 127.0.0.1, verifies each delivery's Standard
// Webhooks signature, prints the event (id, type, subject, sequence, and
// whether the signature verified) and answers 204; it can fail the first
// requests to show retries.
//
//	scripts/webhook-receiver --secret whsec_… [--port 8787] [--fail-first 5 --fail-status 503 --retry-after 0s]
//
// The secret may come from WEBHOOK_SECRET instead; several, comma-separated,
// verify a rotation's overlap. Subscribe with the endpoint it prints.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/citycode/citycode/shared/webhooks"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-receiver:", err)
		os.Exit(2)
	}
}

func realMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc, port, err := parse(args, getenv, stdout, stderr)
	if err != nil || rc == nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	checking := "signatures checked"
	if len(rc.Secrets) == 0 {
		checking = "signatures NOT checked (no --secret)"
	}
	fmt.Fprintf(stdout, "webhook receiver on http://%s/ (%s; failing the first %d with %d)\n", l.Addr(), checking, rc.FailFirst, rc.FailStatus)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// parse reads the flags into a Receiver printing to stdout, and the port;
// a nil Receiver after -h.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (*webhooks.Receiver, int, error) {
	fs := flag.NewFlagSet("webhook-receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 8787, "port to listen on, on 127.0.0.1 (0: any free port)")
	secret := fs.String("secret", getenv("WEBHOOK_SECRET"), "the subscription's whsec_… secret(s), comma-separated (default $WEBHOOK_SECRET)")
	failFirst := fs.Int("fail-first", 0, "answer the first N requests with --fail-status")
	failStatus := fs.Int("fail-status", http.StatusServiceUnavailable, "status of the failed requests (503, 429, 500, 410 …)")
	retryAfter := fs.Duration("retry-after", 0, "Retry-After sent with failed requests (0: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	case *failFirst < 0 || *port < 0 || *port > 65535 || *retryAfter < 0:
		return nil, 0, errors.New("--fail-first, --port and --retry-after must not be negative")
	case *failStatus < 300 || *failStatus > 599:
		return nil, 0, errors.New("--fail-status must be a 3xx, 4xx or 5xx status")
	}
	rc := &webhooks.Receiver{FailFirst: *failFirst, FailStatus: *failStatus, RetryAfter: *retryAfter, Out: stdout}
	for s := range strings.SplitSeq(*secret, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		key, err := webhooks.ParseSecret(s)
		if err != nil {
			return nil, 0, err
		}
		rc.Secrets = append(rc.Secrets, key)
	}
	return rc, *port, nil
}
