package webhooks

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/citycode/citycode/shared/outbox"
)

// Receiver is a webhook endpoint for local runs, demos and tests
// (scripts/webhook-receiver): it verifies each delivery's signature,
// prints what it got, and answers 204; or, for the first FailFirst
// requests, FailStatus. Use it by pointer; the zero value accepts
// everything without checking signatures.
type Receiver struct {
	// Secrets are the keys a signature may be made with; none: signatures
	// are not checked.
	Secrets [][]byte
	// FailFirst requests are answered FailStatus (503 when zero), with a
	// Retry-After of RetryAfter when positive.
	FailFirst  int
	FailStatus int
	RetryAfter time.Duration
	// Out receives one line per request; nil discards them.
	Out io.Writer
	// Now is the clock signatures are checked against; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	received []Received
}

// Received is one request a Receiver answered.
type Received struct {
	// ID, Timestamp and Signature are the webhook headers.
	ID, Timestamp, Signature string
	// Event is the body, when it is an envelope.
	Event outbox.Envelope
	// Verified is nil when the signature verified (or was not checked), else why not.
	Verified error
	// Status is the answer.
	Status int
}

// ServeHTTP receives one delivery.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now()
	if rc.Now != nil {
		now = rc.Now()
	}
	got := Received{ID: r.Header.Get(HeaderID), Timestamp: r.Header.Get(HeaderTimestamp), Signature: r.Header.Get(HeaderSignature)}
	if len(rc.Secrets) > 0 {
		got.Verified = Verify(rc.Secrets, r.Header, body, now, Tolerance)
	}
	_ = json.Unmarshal(body, &got.Event)

	rc.mu.Lock()
	n := len(rc.received) + 1
	got.Status = http.StatusNoContent
	note := ""
	if n <= rc.FailFirst {
		got.Status = rc.FailStatus
		if got.Status == 0 {
			got.Status = http.StatusServiceUnavailable
		}
		note = fmt.Sprintf(" (failing %d of %d)", n, rc.FailFirst)
	}
	rc.received = append(rc.received, got)
	rc.mu.Unlock()

	verified := "valid"
	switch {
	case len(rc.Secrets) == 0:
		verified = "not checked (no secret)"
	case got.Verified != nil:
		verified = "INVALID: " + got.Verified.Error()
	}
	if rc.Out != nil {
		fmt.Fprintf(rc.Out, "#%d %s id=%s type=%s subject=%s sequence=%s signature=%s -> %d%s\n",
			n, now.UTC().Format(time.RFC3339), got.ID, got.Event.Type, got.Event.Subject, got.Event.Sequence, verified, got.Status, note)
	}
	if got.Status != http.StatusNoContent && rc.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(rc.RetryAfter.Seconds())))
	}
	w.WriteHeader(got.Status)
}

// Received answers the requests answered so far, in order.
func (rc *Receiver) Received() []Received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.received...)
}
