// Package webhooks delivers events to agencies' endpoints as signed
// webhooks (the Standard Webhooks specification,
// https://www.standardwebhooks.com): the SQS-triggered delivery function
// with its retries, dead letters and replay steps (infra/delivery.md), and
// the signature both that function and a receiver use.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/subscriptions"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock, either way, before Verify refuses it: the specification's
// recommendation, which bounds how long a captured request can be replayed.
const Tolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrMissingHeaders = errors.New("webhooks: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTimestamp      = errors.New("webhooks: webhook-timestamp malformed or outside the tolerance")
	ErrNoSignature    = errors.New("webhooks: no signature matches")
)

// ParseSecret decodes a whsec_ secret into the key's bytes.
func ParseSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, subscriptions.SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("webhooks: a secret is %s followed by base64", subscriptions.SecretPrefix)
	}
	return key, nil
}

// Sign answers one webhook-signature entry, v1,<base64>: the HMAC-SHA256
// with secret of "<id>.<unix seconds of ts>.<body>".
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(id + "." + ts + "."))
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a request's Standard Webhooks headers against its body:
// the timestamp within tolerance of now, and one of the space-separated v1
// signatures made with one of secrets (a sender rotating its secret signs
// with both). It compares in constant time.
func Verify(secrets [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	for _, secret := range secrets {
		want := mac(secret, id, ts, body)
		for _, sig := range strings.Fields(sigs) {
			version, b64, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoSignature
}
