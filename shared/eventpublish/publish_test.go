package eventpublish

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/outbox"
)

// fixture is a table holding n events of three subjects, its stream
// records (events, id index and counter items) and a bus.
type fixture struct {
	envs    []outbox.Envelope
	records []events.DynamoDBEventRecord
	seq     map[string]string // event id -> its record's sequence number
	bus     *bus
}

func newFixture(t *testing.T, evs ...outbox.Event) *fixture {
	t.Helper()
	tb := newTable(t)
	f := &fixture{envs: tb.write(t, evs...), records: tb.records(t), seq: map[string]string{}, bus: newBus(t)}
	for _, r := range f.records {
		if e, ok, err := outbox.Decode(r.Change.NewImage); err == nil && ok && r.EventName == "INSERT" {
			f.seq[e.ID] = r.Change.SequenceNumber
		}
	}
	if len(f.seq) != len(evs) || len(f.records) <= len(evs) {
		t.Fatalf("stream holds %d records of %d events, want all %d events and their index and counter items", len(f.records), len(f.seq), len(evs))
	}
	return f
}

func holderEvents(n int) []outbox.Event {
	var evs []outbox.Event
	for i := range n {
		evs = append(evs, holderEvent([]string{"hdr_a", "hdr_b", "hdr_c"}[i%3], i))
	}
	return evs
}

func (f *fixture) publisher(t *testing.T, eb EventBridge, bus string) (*Publisher, *logBuffer) {
	t.Helper()
	log, buf := newLog()
	p := New(eb, bus, log)
	p.backoff = time.Millisecond
	return p, buf
}

func failures(r events.DynamoDBEventResponse) []string {
	out := []string{}
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func TestPublishPutsEveryEventOnTheBusOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, holderEvents(23)...)
	eb := &failing{EventBridge: f.bus.eb}
	p, _ := f.publisher(t, eb, f.bus.name)

	if got := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: f.records})); len(got) != 0 {
		t.Fatalf("batch item failures %v, want none", got)
	}
	if diff := cmp.Diff([]int{10, 10, 3}, eb.calls); diff != "" {
		t.Errorf("entries per PutEvents call (-want +got):\n%s", diff)
	}
	got := f.bus.drain(t, len(f.envs))
	if diff := cmp.Diff(ids(f.envs), deliveredIDs(got)); diff != "" {
		t.Fatalf("delivered events (-want +got):\n%s", diff)
	}
	byID := map[string]outbox.Envelope{}
	for _, e := range f.envs {
		byID[e.ID] = e
	}
	for _, d := range got {
		want := byID[d.Detail.ID]
		if diff := cmp.Diff(want, d.Detail, sameJSON); diff != "" {
			t.Errorf("detail of %s (-envelope +got):\n%s", want.ID, diff)
		}
		if d.Source != want.Source || d.DetailType != want.Type || !d.Time.Equal(want.Time) {
			t.Errorf("event %s came as source %q, detail-type %q, time %v; want %q, %q, %v",
				want.ID, d.Source, d.DetailType, d.Time, want.Source, want.Type, want.Time)
		}
	}
}

func TestPublishRetriesOnlyRefusedEntries(t *testing.T) {
	t.Parallel()
	const always = 100
	tests := []struct {
		name string
		// refusals is how many attempts of which events (by index) moto
		// refuses.
		refusals map[int]int
		// failed is the event whose record is reported, -1 for none.
		failed int
		// sent are the events on the bus, by index.
		sent []int
	}{
		{name: "refused twice, then accepted", refusals: map[int]int{11: 2}, failed: -1, sent: span(0, 23)},
		// The 12th is in the second batch: the rest of that batch went
		// through, the third batch was not sent.
		{name: "refused every time", refusals: map[int]int{11: always}, failed: 11, sent: append(span(0, 11), span(12, 20)...)},
		{name: "two refused every time: the first is reported", refusals: map[int]int{14: always, 12: always},
			failed: 12, sent: append(append(span(0, 12), 13), span(15, 20)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, holderEvents(23)...)
			refusals := map[string]int{}
			for i, n := range tc.refusals {
				refusals[f.envs[i].ID] = n
			}
			eb := &failing{EventBridge: f.bus.eb, fail: func(id string, attempt int) bool { return attempt <= refusals[id] }}
			p, logs := f.publisher(t, eb, f.bus.name)

			got := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: f.records}))
			want := []string{}
			if tc.failed >= 0 {
				want = []string{f.seq[f.envs[tc.failed].ID]}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
			var wantSent []outbox.Envelope
			for _, i := range tc.sent {
				wantSent = append(wantSent, f.envs[i])
			}
			if diff := cmp.Diff(ids(wantSent), deliveredIDs(f.bus.drain(t, len(wantSent)))); diff != "" {
				t.Errorf("delivered events (-want +got):\n%s", diff)
			}
			for _, e := range f.envs[:20] {
				want := 1
				if n, ok := refusals[e.ID]; ok {
					want = min(n+1, p.retries+1)
				}
				if n := eb.attempts[e.ID]; n != want {
					t.Errorf("event %s was sent %d times, want %d", e.ID, n, want)
				}
			}
			if errs := logs.lines(t, "ERROR"); (tc.failed >= 0) != (len(errs) == 1) {
				t.Errorf("error logs %v; want one only when events stay unpublished", errs)
			}
		})
	}
}

// After a reported failure Lambda delivers the failed record and all
// after it again: every event reaches the bus, some twice (at least once).
func TestRedeliveryAfterAFailurePublishesEveryEventAtLeastOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, holderEvents(23)...)
	target := f.envs[11].ID
	down := true
	eb := &failing{EventBridge: f.bus.eb, fail: func(id string, _ int) bool { return down && id == target }}
	p, _ := f.publisher(t, eb, f.bus.name)

	records := f.records
	for range 2 {
		failed := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: records}))
		if len(failed) == 0 {
			break
		}
		i := slices.IndexFunc(records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == failed[0] })
		if i < 0 {
			t.Fatalf("failure %s names no record", failed[0])
		}
		records, down = records[i:], false
	}
	got := deliveredIDs(f.bus.drain(t, 23+8))
	if diff := cmp.Diff(ids(f.envs), slices.Compact(slices.Clone(got))); diff != "" {
		t.Errorf("distinct delivered events (-want +got):\n%s", diff)
	}
	if len(got) != 23+8 {
		t.Errorf("%d deliveries, want 31: the 8 accepted after the failure in its batch come twice", len(got))
	}
}

func TestPublishReportsTheFirstEventWhenPutEventsFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, holderEvents(3)...)
	p, logs := f.publisher(t, f.bus.eb, "no-such-bus") // moto answers ResourceNotFoundException

	got := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: f.records}))
	if diff := cmp.Diff([]string{f.seq[f.envs[0].ID]}, got); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
	if errs := logs.lines(t, "ERROR"); len(errs) != 1 {
		t.Errorf("error logs %v, want one", errs)
	}
	if warns := logs.lines(t, "WARN"); len(warns) != p.retries+1 {
		t.Errorf("%d warnings, want one per attempt (%d)", len(warns), p.retries+1)
	}
}

// A record that can never be published is logged and skipped; it does not
// hold back the others.
func TestPublishSkipsUnpublishableRecords(t *testing.T) {
	t.Parallel()
	evs := holderEvents(4)
	big := strings.Repeat("x", 300*1024) // over PutEvents' 256 KiB, under DynamoDB's 400 KB
	evs[3].Data = map[string]string{"holder_id": evs[3].Subject, "padding": big}
	f := newFixture(t, evs...)

	spoil := map[string]func(events.DynamoDBEventRecord){
		f.envs[1].ID: func(r events.DynamoDBEventRecord) {
			r.Change.NewImage["event"] = events.NewStringAttribute("{not json")
		},
		f.envs[2].ID: func(r events.DynamoDBEventRecord) { delete(r.Change.NewImage, "event") },
	}
	for _, r := range f.records {
		if e, ok, _ := outbox.Decode(r.Change.NewImage); ok {
			if s := spoil[e.ID]; s != nil {
				s(r)
			}
		}
	}
	p, logs := f.publisher(t, f.bus.eb, f.bus.name)
	if got := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: f.records})); len(got) != 0 {
		t.Errorf("batch item failures %v, want none", got)
	}
	if diff := cmp.Diff(ids(f.envs[:1]), deliveredIDs(f.bus.drain(t, 1))); diff != "" {
		t.Errorf("delivered events (-want +got):\n%s", diff)
	}
	var logged []string
	for _, l := range logs.lines(t, "ERROR") {
		logged = append(logged, l["sequence_number"].(string))
	}
	want := []string{f.seq[f.envs[1].ID], f.seq[f.envs[2].ID], f.seq[f.envs[3].ID]}
	if diff := cmp.Diff(want, logged); diff != "" {
		t.Errorf("records logged as skipped (-want +got):\n%s", diff)
	}
}

func TestPublishKeepsCallsWithinPutEventsSizeLimit(t *testing.T) {
	t.Parallel()
	evs := holderEvents(5)
	for i := range evs {
		evs[i].Data = map[string]string{"holder_id": evs[i].Subject, "padding": strings.Repeat("x", 60*1024)}
	}
	f := newFixture(t, evs...)
	eb := &failing{EventBridge: f.bus.eb}
	p, _ := f.publisher(t, eb, f.bus.name)
	if got := failures(p.Publish(t.Context(), events.DynamoDBEvent{Records: f.records})); len(got) != 0 {
		t.Errorf("batch item failures %v, want none", got)
	}
	if diff := cmp.Diff([]int{4, 1}, eb.calls); diff != "" {
		t.Errorf("entries per PutEvents call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ids(f.envs), deliveredIDs(f.bus.drain(t, 5))); diff != "" {
		t.Errorf("delivered events (-want +got):\n%s", diff)
	}
}

// sameJSON compares JSON texts by value: moto re-encodes the detail.
var sameJSON = cmp.Transformer("json", func(r json.RawMessage) any {
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r)
	}
	return v
})

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
