package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/citycode/citycode/shared/outbox"
)

// Timeout bounds one delivery attempt, from connecting to the last byte of
// the answer.
const Timeout = 10 * time.Second

// NewHTTPClient is the client deliveries use: Timeout per attempt,
// redirects not followed (a 3xx is a failed attempt: the agency updates its
// endpoint instead), no proxy, and connections only to public addresses,
// whatever an endpoint's host name resolves to, so that an endpoint cannot
// aim deliveries at the function's own network. With allowLoopback (local
// runs, ALLOW_INSECURE_WEBHOOKS) loopback addresses are allowed too.
func NewHTTPClient(allowLoopback bool) *http.Client {
	dialer := &net.Dialer{Timeout: Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if addr = addr.Unmap(); (allowLoopback && addr.IsLoopback()) || (addr.IsGlobalUnicast() && !addr.IsPrivate()) {
			return nil
		}
		return fmt.Errorf("%w: %s", errPrivateAddress, addr)
	}}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.DialContext = dialer.DialContext
	return &http.Client{
		Timeout:       Timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errPrivateAddress refuses a connection to a loopback, private or
// link-local address.
var errPrivateAddress = errors.New("webhooks: endpoint is not a public address")

// outcome is what one attempt came to.
type outcome struct {
	// status is the endpoint's HTTP status; 0 when none came back.
	status int
	// retryAfter is the wait a 429 or 503 asked for with Retry-After.
	retryAfter time.Duration
	// err says why a failed attempt failed, for logs and dead letters; it
	// never holds the endpoint's answer body.
	err string
}

func (o outcome) ok() bool   { return o.status >= 200 && o.status < 300 }
func (o outcome) gone() bool { return o.status == http.StatusGone }

// post makes one delivery attempt of e to endpoint: the envelope as the
// JSON body, with the Standard Webhooks headers signed at now by every key
// in secrets.
func post(ctx context.Context, client *http.Client, endpoint string, secrets [][]byte, e outbox.Envelope, now time.Time) outcome {
	body, err := json.Marshal(e)
	if err != nil {
		return outcome{err: fmt.Sprintf("marshal event: %v", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return outcome{err: fmt.Sprintf("request: %v", err)}
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Sign(s, e.ID, now, body)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "citycode-webhooks/1")
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, strings.Join(sigs, " "))
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err.Error()}
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	o := outcome{status: resp.StatusCode}
	if !o.ok() {
		o.err = resp.Status
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		o.retryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return o
}

// retryAfter reads a Retry-After header, delay-seconds or an HTTP date; 0
// when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Retry policy (infra/delivery.md).
const (
	// MaxAttempts is how many attempts an event gets before it becomes a
	// dead letter.
	MaxAttempts = 8
	// MaxAge is how long after its first attempt an event may still be
	// attempted.
	MaxAge = 24 * time.Hour
	// MaxRetryAfter caps how long a Retry-After can hold an event back.
	MaxRetryAfter = 12 * time.Hour
)

// Backoff is the wait before a failed attempt's next one.
type Backoff struct {
	// Base is the wait after the first attempt (5 s); each further attempt
	// waits 4 times longer, up to Max (15 min).
	Base, Max time.Duration
}

// Wait is how long to wait after failed attempt n (1, 2, …):
// min(Base·4^(n-1), Max), less up to a fifth at random so that endpoints
// that failed together are not retried together; and at least retryAfter,
// capped at MaxRetryAfter, when the endpoint asked for it.
func (b Backoff) Wait(n int, retryAfter time.Duration) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 4
	}
	d = min(d, b.Max)
	if d > 0 {
		d -= rand.N(d/5 + 1)
	}
	return max(d, min(retryAfter, MaxRetryAfter))
}
