package webhooks

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The Standard Webhooks reference libraries' test vector: reproducing it
// is what says a receiver's library accepts what we send.
func TestSignMatchesTheSpecificationVector(t *testing.T) {
	t.Parallel()
	secret, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	current, previous, other := []byte("current-key"), []byte("previous-key"), []byte("other-key")
	body := []byte(`{"id":"e1"}`)
	now := time.Unix(1_800_000_000, 0)
	headers := func(ts time.Time, sigs string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, "e1")
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderSignature, sigs)
		return h
	}
	sign := func(key []byte, ts time.Time) string { return Sign(key, "e1", ts, body) }
	for _, tc := range []struct {
		name    string
		secrets [][]byte
		h       http.Header
		body    []byte
		want    error
	}{
		{"valid", [][]byte{current}, headers(now, sign(current, now)), body, nil},
		{"rotation: the receiver still on the old secret", [][]byte{previous}, headers(now, sign(current, now)+" "+sign(previous, now)), body, nil},
		{"rotation: the receiver already on the new secret", [][]byte{current}, headers(now, sign(current, now)+" "+sign(previous, now)), body, nil},
		{"unknown versions are skipped", [][]byte{current}, headers(now, "v2,abc v1a,xyz "+sign(current, now)), body, nil},
		{"4 min 59 s old", [][]byte{current}, headers(now.Add(-299*time.Second), sign(current, now.Add(-299*time.Second))), body, nil},
		{"wrong secret", [][]byte{other}, headers(now, sign(current, now)), body, ErrNoSignature},
		{"tampered body", [][]byte{current}, headers(now, sign(current, now)), []byte(`{"id":"e2"}`), ErrNoSignature},
		{"signature for another timestamp", [][]byte{current}, headers(now, sign(current, now.Add(-time.Second))), body, ErrNoSignature},
		{"garbage signature", [][]byte{current}, headers(now, "v1,!!!"), body, ErrNoSignature},
		{"too old", [][]byte{current}, headers(now.Add(-301*time.Second), sign(current, now.Add(-301*time.Second))), body, ErrTimestamp},
		{"too new", [][]byte{current}, headers(now.Add(301*time.Second), sign(current, now.Add(301*time.Second))), body, ErrTimestamp},
		{"malformed timestamp", [][]byte{current}, func() http.Header {
			h := headers(now, sign(current, now))
			h.Set(HeaderTimestamp, "1.8e9")
			return h
		}(), body, ErrTimestamp},
		{"no signature header", [][]byte{current}, headers(now, ""), body, ErrMissingHeaders},
		{"no secret", nil, headers(now, sign(current, now)), body, ErrNoSignature},
	} {
		if err := Verify(tc.secrets, tc.h, tc.body, now, Tolerance); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"whsec_aGVsbG8=", "hello"},
		{"aGVsbG8=", "hello"}, // the prefix is optional, as in the reference libraries
	} {
		got, err := ParseSecret(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseSecret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "whsec_", "whsec_not base64!"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

// FuzzVerify: outside input never panics, and what verifies stops
// verifying once its body changes.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	key := []byte("k")
	f.Add("e1", "1800000000", Sign(key, "e1", now, []byte("{}")), []byte("{}"))
	f.Add("e1", "1800000000", "v1,abc v1,", []byte("{}"))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sigs)
		if Verify([][]byte{key}, h, body, now, Tolerance) != nil {
			return
		}
		if err := Verify([][]byte{key}, h, append(body, 'x'), now, Tolerance); err == nil {
			t.Errorf("a changed body verified: %q", sigs)
		}
	})
}
