package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/dynamotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const retention = 30 * 24 * time.Hour

func newTestOutbox(t *testing.T) *Outbox {
	t.Helper()
	db := dynamotest.New(t)
	return New(db.Client, db.Tables["EventsTable"], retention)
}

// at returns a copy of o whose clock reads t.
func (o *Outbox) at(t time.Time) *Outbox {
	c := *o
	c.now = func() time.Time { return t }
	return &c
}

// recordAt writes events at recorded time t and returns their envelopes.
func recordAt(t *testing.T, o *Outbox, when time.Time, events ...Event) []Envelope {
	t.Helper()
	o = o.at(when)
	writes, err := o.Writes(t.Context(), events...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: writes}); err != nil {
		t.Fatal(err)
	}
	var envs []Envelope
	for _, w := range writes {
		if w.Put == nil {
			continue
		}
		if body, ok := w.Put.Item["event"].(*types.AttributeValueMemberS); ok {
			var e Envelope
			if err := json.Unmarshal([]byte(body.Value), &e); err != nil {
				t.Fatal(err)
			}
			envs = append(envs, e)
		}
	}
	return envs
}

func getItem(t *testing.T, o *Outbox, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := o.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(o.table), Key: ddb.Key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func attr(it map[string]types.AttributeValue, name string) string {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func TestEnvelopeAndItems(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	recorded := time.Date(2026, 11, 22, 8, 0, 1, 250_000_000, time.UTC)
	e := recordAt(t, o, recorded, Event{
		Type: "city.holder.enrolled.v1", Source: "/citycode/holders", Subject: "hdr_golden",
		Time: time.Date(2026, 11, 22, 16, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		Data: map[string]string{"holder_id": "hdr_golden", "kind": "resident"},
	})[0]

	id, err := uuid.Parse(e.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("id %q is not a UUID v7 (%v)", e.ID, err)
	}
	pos := "2026-11-22T08:00:01.250000000Z#" + e.ID
	item := getItem(t, o, "DAY#2026-11-22#11", pos) // fnv-1a("hdr_golden") % 16 = 11
	expires := strconv.FormatInt(recorded.Add(retention).Unix(), 10)
	got := map[string]string{}
	for _, k := range []string{"type", "subject", "sequence", "expires_at"} {
		got[k] = attr(item, k)
	}
	want := map[string]string{"type": "city.holder.enrolled.v1", "subject": "hdr_golden", "sequence": "1", "expires_at": expires}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event item (-want +got):\n%s", diff)
	}
	index := getItem(t, o, "EVENT#"+e.ID, "EVENT")
	if attr(index, "position") != pos || attr(index, "expires_at") != expires {
		t.Errorf("index item = %v, want position %s expiring %s", index, pos, expires)
	}
	if seq := attr(getItem(t, o, "SEQ#hdr_golden", "SEQ"), "seq"); seq != "1" {
		t.Errorf("counter = %q, want 1", seq)
	}

	// The stored envelope, byte for byte, with the random id fixed.
	body := strings.ReplaceAll(attr(item, "event"), e.ID, "0199a8f0-0000-7000-8000-000000000000")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(body), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "envelope.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want2, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want2), pretty.String()); diff != "" {
		t.Errorf("envelope (-golden +got):\n%s", diff)
	}
}

func TestSequencesCountPerSubjectWithinOneTransaction(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	ev := func(subject string) Event {
		return Event{Type: "city.test.v1", Source: "/test", Subject: subject, Data: struct{}{}}
	}
	now := time.Now()
	recordAt(t, o, now, ev("a"))
	got := recordAt(t, o, now.Add(time.Millisecond), ev("a"), ev("b"), ev("a"))
	var seqs []string
	for _, e := range got {
		seqs = append(seqs, e.Subject+":"+e.Sequence)
	}
	want := []string{"a:00000000000000000002", "b:00000000000000000001", "a:00000000000000000003"}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("sequences (-want +got):\n%s", diff)
	}
}

func TestSequenceIsGapFreeUnderTwentyConcurrentWriters(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	start := time.Now()
	const writers = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			errs <- o.Transact(t.Context(), nil, Event{Type: "city.test.v1", Source: "/test", Subject: "hdr_busy", Data: map[string]int{"writer": i}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a writer failed: %v", err)
		}
	}

	got, _, err := o.at(time.Now().Add(2*Settle)).Since(t.Context(), At(start), 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers {
		t.Fatalf("%d events, want %d", len(got), writers)
	}
	seen := map[int]bool{}
	for i, e := range got {
		// Recorded order is sequence order: each writer read the counter
		// after the previous one committed.
		if n, err := e.SequenceNumber(); err != nil || n != uint64(i+1) {
			t.Errorf("event %d has sequence %q, want %d", i, e.Sequence, i+1)
		}
		var d map[string]int
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		seen[d["writer"]] = true
	}
	if len(seen) != writers {
		t.Errorf("events came from %d writers, want each of %d once", len(seen), writers)
	}
	if seq := attr(getItem(t, o, "SEQ#hdr_busy", "SEQ"), "seq"); seq != "20" {
		t.Errorf("counter = %s, want 20", seq)
	}
}

func TestRefusedChangeWritesNoEvent(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	// The caller's own write: a condition that fails.
	mine := []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(o.table), Key: ddb.Key("NOPE", "NOPE"), ConditionExpression: aws.String("attribute_exists(pk)"),
	}}}
	err := o.Transact(t.Context(), mine, Event{Type: "city.test.v1", Source: "/test", Subject: "hdr_refused", Data: 1})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || aws.ToString(tce.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
		t.Fatalf("Transact = %v, want the caller's condition failure at index 0", err)
	}
	if Retryable(err, len(mine)) {
		t.Error("the caller's own failure is not retryable")
	}
	got, _, err := o.at(time.Now().Add(2*Settle)).Since(t.Context(), At(time.Now().Add(-time.Hour)), 10, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("events after a refused change: %v, %v", got, err)
	}
	if it := getItem(t, o, "SEQ#hdr_refused", "SEQ"); it != nil {
		t.Errorf("counter advanced: %v", it)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	cancel := func(codes ...string) error {
		tce := &types.TransactionCanceledException{}
		for _, c := range codes {
			tce.CancellationReasons = append(tce.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
		}
		return tce
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"not a cancellation", errors.New("network"), false},
		{"counter moved", cancel("None", "None", "None", "ConditionalCheckFailed"), true},
		{"caller's condition", cancel("ConditionalCheckFailed", "None", "None", "None"), false},
		{"caller's and counter", cancel("ConditionalCheckFailed", "None", "None", "ConditionalCheckFailed"), false},
		{"conflict on the caller's item", cancel("TransactionConflict", "None", "None", "None"), true},
		{"conflict on an event item", cancel("None", "None", "TransactionConflict", "None"), true},
		{"other reason", cancel("None", "ValidationError", "None", "None"), false},
	} {
		if got := Retryable(tc.err, 2); got != tc.want {
			t.Errorf("%s: Retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWritesRefusesIncompleteEvents(t *testing.T) {
	t.Parallel()
	o := New(nil, "unused", retention) // refused before any call
	for _, e := range []Event{
		{Source: "/test", Subject: "s"},
		{Type: "city.test.v1", Subject: "s"},
		{Type: "city.test.v1", Source: "/test"},
	} {
		if _, err := o.Writes(context.Background(), e); err == nil {
			t.Errorf("Writes(%+v) accepted an incomplete event", e)
		}
	}
}

func TestConfigFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want Config
		ok   bool
	}{
		{map[string]string{"EVENTS_TABLE": "ev"}, Config{Table: "ev", Retention: DefaultRetention}, true},
		{map[string]string{"EVENTS_TABLE": "ev", "EVENT_RETENTION": "168h"}, Config{Table: "ev", Retention: 168 * time.Hour}, true},
		{map[string]string{"EVENT_RETENTION": "168h"}, Config{}, false},
		{map[string]string{"EVENTS_TABLE": "ev", "EVENT_RETENTION": "30d"}, Config{}, false},
		{map[string]string{"EVENTS_TABLE": "ev", "EVENT_RETENTION": "59m"}, Config{}, false},
		{map[string]string{"EVENTS_TABLE": "ev", "EVENT_RETENTION": "8761h"}, Config{}, false},
	} {
		got, err := ConfigFrom(func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ConfigFrom(%v) = %+v, %v; want %+v, ok %v", tc.env, got, err, tc.want, tc.ok)
		}
	}
}
