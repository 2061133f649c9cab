package eventpublish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

func TestConfigFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want Config
		ok   bool
	}{
		{map[string]string{"EVENT_BUS_NAME": "city"}, Config{Bus: "city"}, true},
		{map[string]string{"EVENT_BUS_NAME": "city", "EVENTBRIDGE_ENDPOINT": "http://127.0.0.1:5000"}, Config{Bus: "city", Endpoint: "http://127.0.0.1:5000"}, true},
		{map[string]string{"EVENTBRIDGE_ENDPOINT": "http://127.0.0.1:5000"}, Config{}, false},
	} {
		got, err := ConfigFrom(func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ConfigFrom(%v) = %+v, %v; want %+v, ok %v", tc.env, got, err, tc.want, tc.ok)
		}
	}
}

func TestNewJobNeedsCredentialsOutsideLocal(t *testing.T) {
	t.Parallel()
	if _, err := NewJob(t.Context(), func(k string) string { return map[string]string{"EVENT_BUS_NAME": "city"}[k] }); err == nil {
		t.Error("NewJob without credentials nor a local endpoint succeeded")
	}
}

// sampleEvents reads events/event-publisher/*.json.
func sampleEvents(t *testing.T) map[string][]byte {
	t.Helper()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "events", "event-publisher", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events (%v)", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if out[filepath.Base(f)], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// envelopes decodes the events of a sample's records.
func envelopes(t *testing.T, raw []byte) []outbox.Envelope {
	t.Helper()
	var batch events.DynamoDBEvent
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	var out []outbox.Envelope
	for _, r := range batch.Records {
		e, ok, err := outbox.Decode(r.Change.NewImage)
		if err != nil || !ok || r.EventName != "INSERT" {
			t.Fatalf("record %s is not an outbox event INSERT (%v)", r.Change.SequenceNumber, err)
		}
		out = append(out, e)
	}
	return out
}

// The function, built from its environment as Lambda builds it, publishes
// each sample's events and answers an empty failure report.
func TestJobPublishesTheSampleEvents(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	env := map[string]string{"EVENT_BUS_NAME": b.name, "EVENTBRIDGE_ENDPOINT": b.endpoint, "LOG_LEVEL": "error"}
	job, err := NewJob(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range sampleEvents(t) {
		want := envelopes(t, raw)
		for _, e := range want {
			outboxtest.CheckSchema(t, e)
		}
		answer, err := job(t.Context(), raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, _ := json.Marshal(answer); string(got) != `{"batchItemFailures":[]}` {
			t.Errorf("%s: answer %s, want an empty batch item failures report", name, got)
		}
		if diff := cmp.Diff(ids(want), deliveredIDs(b.drain(t, len(want)))); diff != "" {
			t.Errorf("%s: delivered events (-want +got):\n%s", name, diff)
		}
	}
	if _, err := job(t.Context(), json.RawMessage(`["not", "a", "stream", "event"]`)); err == nil {
		t.Error("a JSON array was taken for a stream event")
	}
}

// The samples' records have what the outbox really writes: the same
// attributes, of the same types, as a record read from the stream.
func TestSampleEventsMatchTheOutbox(t *testing.T) {
	t.Parallel()
	tb := newTable(t)
	tb.write(t, holderEvent("hdr_a", 1))
	shape := func(r events.DynamoDBEventRecord) map[string]string {
		out := map[string]string{"eventName": r.EventName, "eventSource": r.EventSource, "eventVersion": r.EventVersion, "StreamViewType": r.Change.StreamViewType}
		for k, v := range r.Change.Keys {
			out["Keys."+k] = dataType(v)
		}
		for k, v := range r.Change.NewImage {
			out["NewImage."+k] = dataType(v)
		}
		return out
	}
	var real map[string]string
	for _, r := range tb.records(t) {
		if _, ok, _ := outbox.Decode(r.Change.NewImage); ok {
			real = shape(r)
		}
	}
	for name, raw := range sampleEvents(t) {
		var batch events.DynamoDBEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			t.Fatal(err)
		}
		for _, r := range batch.Records {
			if diff := cmp.Diff(real, shape(r)); diff != "" {
				t.Errorf("%s: record %s (-stream +sample):\n%s", name, r.Change.SequenceNumber, diff)
			}
		}
		seqs := []string{}
		for _, r := range batch.Records {
			seqs = append(seqs, r.Change.SequenceNumber)
		}
		if !sort.StringsAreSorted(seqs) {
			t.Errorf("%s: sequence numbers %v out of stream order", name, seqs)
		}
	}
}

func dataType(v events.DynamoDBAttributeValue) string {
	return map[events.DynamoDBDataType]string{
		events.DataTypeString: "S", events.DataTypeNumber: "N", events.DataTypeBinary: "B", events.DataTypeMap: "M",
	}[v.DataType()]
}
