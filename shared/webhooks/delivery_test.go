package webhooks

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/subscriptions"
)

// nominal is the wait after failed attempt n before jitter: 5 s, 20 s,
// 80 s, 320 s, then 15 min.
func nominal(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n; i++ {
		d *= 4
	}
	return min(d, 15*time.Minute)
}

// retries drives w's retries to the end: it takes the retry queue's
// message, moves the clock to when it is due and handles it, until the
// queue stays empty. It answers the retry messages in order.
func (w *world) retries(t *testing.T) []Retry {
	t.Helper()
	var out []Retry
	for {
		msgs := w.queue.drain(t)
		if len(msgs) == 0 {
			return out
		}
		if len(msgs) != 1 {
			t.Fatalf("%d messages on the retry queue, want 1", len(msgs))
		}
		var r Retry
		if err := json.Unmarshal([]byte(msgs[0]), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		w.clock.Set(r.NotBefore)
		handle(t, w.d, msgs[0])
	}
}

func TestFailingFiveTimesThenAccepted(t *testing.T) {
	t.Parallel()
	current, previous := []byte("current-key-0123456789"), []byte("previous-key-0123456789")
	w := newWorld(t, nil)
	t0 := w.clock.Now()
	rc := &Receiver{Secrets: [][]byte{current}, FailFirst: 5, Now: w.clock.Now}
	// A rotation ten minutes ago: the previous secret signs until t0+10min.
	w.subs.subs["sub_1"] = subscription("sub_1", serve(t, rc),
		subscriptions.Secret{Key: current}, subscriptions.Secret{Key: previous, ExpiresAt: t0.Add(10 * time.Minute)})
	e := envelope("0199a8f0-0000-7000-8000-000000000001", "city.holder.enrolled.v1", "hdr_1", 1, t0)

	handle(t, w.d, bridgeMessage(t, e))
	retries := w.retries(t)

	at := t0
	for i, r := range retries {
		if r.Kind != KindRetry || r.SubscriptionID != "sub_1" || r.Attempt != i+2 || !r.FirstAttempt.Equal(t0) {
			t.Errorf("retry %d: kind %q, subscription %q, attempt %d, first attempt %v", i, r.Kind, r.SubscriptionID, r.Attempt, r.FirstAttempt)
		}
		if diff := cmp.Diff(e, r.Event); diff != "" {
			t.Errorf("retry %d carries another event (-want +got):\n%s", i, diff)
		}
		n := nominal(i + 1)
		if wait := r.NotBefore.Sub(at); wait < n*4/5 || wait > n {
			t.Errorf("wait after attempt %d = %v, want %v less up to a fifth", i+1, wait, n)
		}
		at = r.NotBefore
	}
	if len(retries) != 5 {
		t.Fatalf("%d retries, want 5", len(retries))
	}
	got := rc.Received()
	var statuses []int
	for i, r := range got {
		statuses = append(statuses, r.Status)
		if r.ID != e.ID || r.Event.ID != e.ID {
			t.Errorf("attempt %d: webhook-id %q, body id %q; want %q", i+1, r.ID, r.Event.ID, e.ID)
		}
		if r.Verified != nil {
			t.Errorf("attempt %d: signature: %v", i+1, r.Verified)
		}
		ts, _ := strconv.ParseInt(r.Timestamp, 10, 64)
		when := time.Unix(ts, 0)
		if i > 0 && (r.Signature == got[i-1].Signature || r.Timestamp == got[i-1].Timestamp) {
			t.Errorf("attempt %d reused the previous attempt's timestamp or signature", i+1)
		}
		if want := 1 + boolInt(when.Before(t0.Add(10*time.Minute))); len(strings.Fields(r.Signature)) != want {
			t.Errorf("attempt %d at %v: %d signatures, want %d (previous secret until t0+10min)", i+1, when.Sub(t0), len(strings.Fields(r.Signature)), want)
		}
	}
	if diff := cmp.Diff([]int{503, 503, 503, 503, 503, 204}, statuses); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if dead := w.subs.deadLetters(); len(dead) > 0 {
		t.Errorf("dead letters: %v", dead)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestGoneDisables(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	rc := &Receiver{FailFirst: 1, FailStatus: http.StatusGone}
	w.subs.subs["sub_1"] = subscription("sub_1", serve(t, rc), subscriptions.Secret{Key: []byte("k")})
	handle(t, w.d, bridgeMessage(t, envelope("e1", "city.holder.enrolled.v1", "hdr_1", 1, w.clock.Now())))

	if msgs := w.queue.drain(t); len(msgs) > 0 {
		t.Errorf("retried after 410: %v", msgs)
	}
	s, _ := w.subs.Get(t.Context(), "sub_1")
	if s.Status != subscriptions.StatusDisabled || !strings.Contains(s.DisabledReason, "410") {
		t.Errorf("subscription %s (%q), want disabled for the 410", s.Status, s.DisabledReason)
	}
	if len(rc.Received()) != 1 || len(w.subs.deadLetters()) != 0 {
		t.Errorf("%d requests, dead letters %v; want 1 request and none", len(rc.Received()), w.subs.deadLetters())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			t0 := w.clock.Now()
			rc := &Receiver{FailFirst: 1, FailStatus: status, RetryAfter: time.Hour}
			w.subs.subs["sub_1"] = subscription("sub_1", serve(t, rc), subscriptions.Secret{Key: []byte("k")})
			handle(t, w.d, bridgeMessage(t, envelope("e1", "city.holder.enrolled.v1", "hdr_1", 1, t0)))

			msgs := w.queue.drain(t)
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1 retry", len(msgs))
			}
			var r Retry
			if err := json.Unmarshal([]byte(msgs[0]), &r); err != nil {
				t.Fatal(err)
			}
			if !r.NotBefore.Equal(t0.Add(time.Hour)) {
				t.Errorf("next attempt at t0+%v, want t0+1h (Retry-After: 3600)", r.NotBefore.Sub(t0))
			}
			// SQS held it back 15 minutes: it goes round again, unattempted.
			w.clock.Set(t0.Add(15 * time.Minute))
			handle(t, w.d, msgs[0])
			again := w.queue.drain(t)
			if len(again) != 1 || len(rc.Received()) != 1 {
				t.Fatalf("early message: %d requests and %d messages; want none and the same retry", len(rc.Received())-1, len(again))
			}
			if diff := cmp.Diff(msgs[0], again[0]); diff != "" {
				t.Errorf("the retry changed going round (-want +got):\n%s", diff)
			}
			w.clock.Set(r.NotBefore)
			handle(t, w.d, again[0])
			if got := rc.Received(); len(got) != 2 || got[1].Status != http.StatusNoContent {
				t.Errorf("requests %v, want the second accepted", got)
			}
		})
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		rc         *Receiver
		want       deadLetter
		wantFirsts []time.Duration // when each attempt came, after the first
	}{
		{"after 8 attempts", &Receiver{FailFirst: 100, FailStatus: 500},
			deadLetter{"sub_1", "e1", 8, 500, "500 Internal Server Error"}, nil},
		{"after 24 hours", &Receiver{FailFirst: 100, FailStatus: 429, RetryAfter: 48 * time.Hour},
			deadLetter{"sub_1", "e1", 3, 429, "429 Too Many Requests"}, []time.Duration{0, 12 * time.Hour, 24 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			t0 := w.clock.Now()
			tc.rc.Now = w.clock.Now
			w.subs.subs["sub_1"] = subscription("sub_1", serve(t, tc.rc), subscriptions.Secret{Key: []byte("k")})
			handle(t, w.d, bridgeMessage(t, envelope("e1", "city.holder.enrolled.v1", "hdr_1", 1, t0)))
			w.retries(t)

			got := tc.rc.Received()
			if len(got) != tc.want.Attempts {
				t.Errorf("%d attempts, want %d", len(got), tc.want.Attempts)
			}
			if tc.wantFirsts != nil {
				var at []time.Duration
				for _, r := range got {
					ts, _ := strconv.ParseInt(r.Timestamp, 10, 64)
					at = append(at, time.Unix(ts, 0).Sub(t0))
				}
				if diff := cmp.Diff(tc.wantFirsts, at); diff != "" {
					t.Errorf("attempt times (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff([]deadLetter{tc.want}, w.subs.deadLetters()); diff != "" {
				t.Errorf("dead letters (-want +got):\n%s", diff)
			}
		})
	}
}

// A retry finds the subscription changed since the event came.
func TestRetryOfAChangedSubscription(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   string
		types    []string
		wantDead []deadLetter
	}{
		{"paused: a dead letter", subscriptions.StatusPaused, []string{"city.holder.*"}, []deadLetter{{"sub_1", "e1", 2, 0, "subscription paused"}}},
		{"disabled: a dead letter", subscriptions.StatusDisabled, []string{"city.holder.*"}, []deadLetter{{"sub_1", "e1", 2, 0, "subscription disabled"}}},
		{"type no longer wanted: dropped", subscriptions.StatusActive, []string{"city.stay.*"}, nil},
		{"deleted: dropped", "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			rc := &Receiver{}
			if tc.status != "" {
				s := subscription("sub_1", serve(t, rc), subscriptions.Secret{Key: []byte("k")})
				s.Status, s.Types = tc.status, tc.types
				w.subs.subs["sub_1"] = s
			}
			handle(t, w.d, mustJSON(t, Retry{Kind: KindRetry, SubscriptionID: "sub_1", Attempt: 3,
				Event: envelope("e1", "city.holder.enrolled.v1", "hdr_1", 1, w.clock.Now()), FirstAttempt: w.clock.Now()}))
			if diff := cmp.Diff(tc.wantDead, w.subs.deadLetters()); diff != "" {
				t.Errorf("dead letters (-want +got):\n%s", diff)
			}
			if n := len(rc.Received()) + len(w.queue.drain(t)); n != 0 {
				t.Errorf("%d requests and retries, want none", n)
			}
		})
	}
}

func TestUnreadableMessagesAreBatchFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	resp := w.d.Handle(t.Context(), sqsBatch(
		`not json`,
		bridgeMessage(t, envelope("e1", "city.nobody.wants.v1", "s", 1, w.clock.Now())),
		`{"kind":"other"}`,
		`{"detail-type":"x","detail":{"no":"envelope"}}`,
		`{"kind":"retry","subscription_id":"sub_1","attempt":1,"event":{"id":"e1"}}`,
		`{"kind":"replay","subscription_id":"sub_1","replay_id":"r"}`,
	))
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if diff := cmp.Diff([]string{"m0", "m2", "m3", "m4", "m5"}, ids); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
}

func TestMatchingIsCachedForAMinute(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	t0 := w.clock.Now()
	rc := &Receiver{}
	w.subs.subs["sub_1"] = subscription("sub_1", serve(t, rc), subscriptions.Secret{Key: []byte("k")})
	for i, at := range []time.Duration{0, 59 * time.Second, 61 * time.Second} {
		w.clock.Set(t0.Add(at))
		handle(t, w.d, bridgeMessage(t, envelope("e"+strconv.Itoa(i), "city.holder.enrolled.v1", "hdr_1", i+1, t0)))
	}
	if w.subs.matching != 2 || len(rc.Received()) != 3 {
		t.Errorf("Matching read %d times for 3 events over 61 s, %d delivered; want 2 and 3", w.subs.matching, len(rc.Received()))
	}
}

func TestPrivateAddressesAreRefused(t *testing.T) {
	t.Parallel()
	rc := &Receiver{}
	url := serve(t, rc)
	o := post(t.Context(), NewHTTPClient(false), url, nil, envelope("e1", "t.v1", "s", 1, time.Now()), time.Now())
	if o.status != 0 || !strings.Contains(o.err, "not a public address") || len(rc.Received()) != 0 {
		t.Errorf("post to %s: %+v, %d requests; want refused before connecting", url, o, len(rc.Received()))
	}
	if o := post(t.Context(), NewHTTPClient(true), url, nil, envelope("e1", "t.v1", "s", 1, time.Now()), time.Now()); !o.ok() {
		t.Errorf("post with loopback allowed: %+v", o)
	}
}

func TestRedirectIsAFailure(t *testing.T) {
	t.Parallel()
	rc := &Receiver{}
	url := serve(t, http.RedirectHandler(serve(t, rc), http.StatusTemporaryRedirect))
	o := post(t.Context(), NewHTTPClient(true), url, nil, envelope("e1", "t.v1", "s", 1, time.Now()), time.Now())
	if o.status != http.StatusTemporaryRedirect || o.ok() || len(rc.Received()) != 0 {
		t.Errorf("redirected post: %+v, %d requests at the target; want a failed attempt", o, len(rc.Received()))
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: 5 * time.Second, Max: 15 * time.Minute}
	for _, tc := range []struct {
		n          int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 4 * time.Second, 5 * time.Second},
		{2, 0, 16 * time.Second, 20 * time.Second},
		{3, 0, 64 * time.Second, 80 * time.Second},
		{4, 0, 256 * time.Second, 320 * time.Second},
		{5, 0, 12 * time.Minute, 15 * time.Minute},
		{40, 0, 12 * time.Minute, 15 * time.Minute},
		{1, time.Minute, time.Minute, time.Minute},
		{5, time.Second, 12 * time.Minute, 15 * time.Minute},
		{1, 30 * time.Hour, 12 * time.Hour, 12 * time.Hour},
	} {
		for range 20 {
			if got := b.Wait(tc.n, tc.retryAfter); got < tc.lo || got > tc.hi {
				t.Errorf("Wait(%d, %v) = %v, want %v to %v", tc.n, tc.retryAfter, got, tc.lo, tc.hi)
			}
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"120", 2 * time.Minute},
		{"Sun, 22 Nov 2026 08:10:00 GMT", 10 * time.Minute},
		{"Sun, 22 Nov 2026 07:00:00 GMT", 0},
		{"-5", 0},
		{"soon", 0},
		{"", 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
