package webhooks

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/subscriptions"
)

// record writes e into EventsTable as the outbox does
// (infra/events/README.md), recorded at: the outbox itself records at the
// present, which replay leaves alone for outbox.Settle.
func record(t *testing.T, db *dynamodb.Client, table string, at time.Time, e outbox.Envelope) {
	t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	pos := at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + e.ID
	h := fnv.New32a()
	h.Write([]byte(e.Subject))
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	expires := &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(outbox.DefaultRetention).Unix(), 10)}
	for _, item := range []map[string]types.AttributeValue{
		{"pk": s(fmt.Sprintf("DAY#%s#%02d", pos[:10], h.Sum32()%outbox.Shards)), "sk": s(pos), "event": s(string(body)),
			"type": s(e.Type), "subject": s(e.Subject), "sequence": &types.AttributeValueMemberN{Value: "1"}, "expires_at": expires},
		{"pk": s("EVENT#" + e.ID), "sk": s("EVENT"), "position": s(pos), "expires_at": expires},
	} {
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
}

// replayWorld records ten events half an hour ago, eight of them of a type
// the subscription wants, and answers the outbox and those eight.
func replayWorld(t *testing.T) (*outbox.Outbox, []outbox.Envelope, time.Time) {
	t.Helper()
	db := dynamotest.New(t)
	table := db.Tables["EventsTable"]
	start := time.Now().UTC().Add(-30 * time.Minute)
	var wanted []outbox.Envelope
	for i := range 10 {
		typ := "city.holder.enrolled.v1"
		if i%4 == 3 {
			typ = "city.stay.checked_in.v1"
		}
		at := start.Add(time.Duration(i) * time.Second)
		e := envelope(uuid.NewString(), typ, "hdr_"+strconv.Itoa(i), 1, at)
		record(t, db.Client, table, at, e)
		if typ == "city.holder.enrolled.v1" {
			wanted = append(wanted, e)
		}
	}
	return outbox.New(db.Client, table, outbox.DefaultRetention), wanted, start
}

// steps drives a replay to its end from first, as retries does.
func (w *world) steps(t *testing.T, first ReplayStep) []ReplayStep {
	t.Helper()
	next := mustJSON(t, first)
	var out []ReplayStep
	for {
		handle(t, w.d, next)
		msgs := w.queue.drain(t)
		if len(msgs) == 0 {
			return out
		}
		if len(msgs) != 1 {
			t.Fatalf("%d messages on the queue, want 1 replay step", len(msgs))
		}
		var s ReplayStep
		if err := json.Unmarshal([]byte(msgs[0]), &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
		if !s.NotBefore.IsZero() {
			w.clock.Set(s.NotBefore)
		}
		next = msgs[0]
	}
}

func TestReplayDeliversInOrder(t *testing.T) {
	t.Parallel()
	events, wanted, start := replayWorld(t)
	w := newWorld(t, events)
	rc := &Receiver{Secrets: [][]byte{[]byte("k")}, Now: w.clock.Now}
	// The third event fails once.
	var failed atomic.Bool
	url := serve(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderID) == wanted[2].ID && failed.CompareAndSwap(false, true) {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		rc.ServeHTTP(rw, r)
	}))
	w.subs.subs["sub_1"] = subscription("sub_1", url, subscriptions.Secret{Key: []byte("k")})
	t0 := w.clock.Now()

	steps := w.steps(t, ReplayStep{Kind: KindReplay, SubscriptionID: "sub_1", ReplayID: "rpl_1", Position: outbox.At(start.Add(-time.Minute))})

	var got []string
	for _, r := range rc.Received() {
		if r.Status != http.StatusNoContent || r.Verified != nil {
			t.Errorf("event %s: answered %d, signature %v", r.ID, r.Status, r.Verified)
		}
		got = append(got, r.ID)
	}
	var want []string
	for _, e := range wanted {
		want = append(want, e.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events delivered (-want +got):\n%s", diff)
	}
	after := func(e outbox.Envelope) outbox.Position {
		p, err := events.After(t.Context(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// First step: wanted 0 and 1 delivered, 2 failed: again from after 1,
	// after the backoff. Second: 2 to 6, a full batch: the next step from
	// after 6. Third: 7, fewer than a batch: the replay is done.
	if len(steps) != 2 {
		t.Fatalf("steps %+v, want 2 after the first", steps)
	}
	if steps[0].Position != after(wanted[1]) || steps[0].Attempt != 2 || steps[0].ReplayID != "rpl_1" {
		t.Errorf("step after the failure: %+v, want from after event 1, attempt 2", steps[0])
	}
	if wait := steps[0].NotBefore.Sub(t0); wait < 4*time.Second || wait > 5*time.Second {
		t.Errorf("step after the failure due after %v, want the first backoff, 4 to 5 s", wait)
	}
	if steps[1].Position != after(wanted[6]) || steps[1].Attempt != 0 || !steps[1].NotBefore.IsZero() {
		t.Errorf("step after a full batch: %+v, want from after event 6, at once", steps[1])
	}
}

func TestReplayDeadLettersAnEventFailingEveryAttempt(t *testing.T) {
	t.Parallel()
	events, wanted, start := replayWorld(t)
	w := newWorld(t, events)
	rc := &Receiver{FailFirst: 1, FailStatus: http.StatusBadGateway}
	w.subs.subs["sub_1"] = subscription("sub_1", serve(t, rc), subscriptions.Secret{Key: []byte("k")})

	handle(t, w.d, mustJSON(t, ReplayStep{Kind: KindReplay, SubscriptionID: "sub_1", ReplayID: "rpl_1",
		Position: outbox.At(start.Add(-time.Minute)), Attempt: MaxAttempts}))

	if diff := cmp.Diff([]deadLetter{{"sub_1", wanted[0].ID, MaxAttempts, 502, "502 Bad Gateway"}}, w.subs.deadLetters()); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
	msgs := w.queue.drain(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want the next step", len(msgs))
	}
	var s ReplayStep
	if err := json.Unmarshal([]byte(msgs[0]), &s); err != nil {
		t.Fatal(err)
	}
	if p, err := events.After(t.Context(), wanted[0].ID); err != nil || s.Position != p || s.Attempt != 0 || !s.NotBefore.IsZero() {
		t.Errorf("next step %+v, want from after the dead letter (%s), at once", s, p)
	}
}
