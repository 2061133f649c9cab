package eventpublish

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/outbox"
)

// poll runs a poller on tb's stream until the test ends.
func poll(t *testing.T, tb *table, handle func(context.Context, json.RawMessage) (any, error)) *logBuffer {
	t.Helper()
	log, logs := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	p := &poller{streams: tb.streams, arn: tb.arn, handle: handle, log: log, retryFirst: time.Millisecond, shards: map[string]*streamShard{}}
	go func() { done <- p.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("poller: %v", err)
		}
	})
	return logs
}

// The state change and its events are committed while no publisher runs
// (the process died before publishing): the publisher, started later,
// delivers them, then those written while it runs, each once.
func TestPollStreamPublishesWhatWasWrittenBeforeItStarted(t *testing.T) {
	t.Parallel()
	tb := newTable(t)
	b := newBus(t)
	before := tb.write(t, holderEvents(5)...)

	env := map[string]string{"EVENT_BUS_NAME": b.name, "EVENTBRIDGE_ENDPOINT": b.endpoint, "AWS_REGION": "cn-north-1"}
	job, err := NewJob(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log, _ := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- PollStream(ctx, tb.streams, tb.arn, job, log) }()

	if diff := cmp.Diff(ids(before), deliveredIDs(b.drain(t, len(before)))); diff != "" {
		t.Errorf("events written before the publisher started (-want +got):\n%s", diff)
	}
	all := tb.write(t, holderEvent("hdr_late", 99), holderEvent("hdr_a", 100))
	if diff := cmp.Diff(ids(all[len(before):]), deliveredIDs(b.drain(t, 2))); diff != "" {
		t.Errorf("events written while it runs (-want +got):\n%s", diff)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("PollStream = %v, want nil once its context is done", err)
	}
}

// recorder is a handler that records the sequence numbers of each call's
// records.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
	// answer decides what call n (from 0) answers.
	answer func(n int, seqs []string) (any, error)
}

func (r *recorder) handle(_ context.Context, raw json.RawMessage) (any, error) {
	var batch events.DynamoDBEvent
	if err := json.Unmarshal(raw, &batch); err != nil {
		return nil, err
	}
	var seqs []string
	for _, rec := range batch.Records {
		seqs = append(seqs, rec.Change.SequenceNumber)
	}
	r.mu.Lock()
	n := len(r.calls)
	r.calls = append(r.calls, seqs)
	r.mu.Unlock()
	return r.answer(n, seqs)
}

// waitCalls waits up to 10 s for n calls and answers them.
func (r *recorder) waitCalls(t *testing.T, n int) [][]string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		r.mu.Lock()
		calls := slices.Clone(r.calls)
		r.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls in 10 s, want %d: %v", len(calls), n, calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fail(seq string) events.DynamoDBEventResponse {
	return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}}
}

func TestPollStreamRedeliversLikeLambda(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// first is the first call's answer, given its records' sequence
		// numbers; every later call succeeds.
		first func(seqs []string) (any, error)
		// retryFrom is the index in the first batch where the second
		// call starts.
		retryFrom int
	}{
		{"batch item failures: from the lowest", func(s []string) (any, error) { return fail(s[5]), nil }, 5},
		{"batch item failures: several", func(s []string) (any, error) {
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: s[6]}, {ItemIdentifier: s[2]}, {ItemIdentifier: s[4]}}}, nil
		}, 2},
		{"function error: the whole batch", func([]string) (any, error) { return nil, errors.New("boom") }, 0},
		{"failure naming no record: the whole batch", func([]string) (any, error) { return fail("nope"), nil }, 0},
		{"an answer that is no report: the whole batch", func([]string) (any, error) { return "ok", nil }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := newTable(t)
			tb.write(t, holderEvents(3)...) // 9 records: events, index items, counters
			r := &recorder{answer: func(n int, seqs []string) (any, error) {
				if n == 0 {
					return tc.first(seqs)
				}
				return events.DynamoDBEventResponse{}, nil
			}}
			poll(t, tb, r.handle)
			calls := r.waitCalls(t, 2)
			if len(calls[0]) != 9 {
				t.Fatalf("first batch %v, want the 9 records", calls[0])
			}
			if diff := cmp.Diff(calls[0][tc.retryFrom:], calls[1]); diff != "" {
				t.Errorf("second batch (-want +got):\n%s", diff)
			}
			time.Sleep(300 * time.Millisecond)
			if n := len(r.waitCalls(t, 2)); n != 2 {
				t.Errorf("%d calls, want 2: a handled batch is not delivered again", n)
			}
		})
	}
}

// A batch that keeps failing is retried 10 times, then skipped with an
// error log; the shard goes on with what comes after it.
func TestPollStreamSkipsABatchAfterItsRetries(t *testing.T) {
	t.Parallel()
	tb := newTable(t)
	tb.write(t, holderEvents(1)...)
	r := &recorder{}
	r.answer = func(n int, seqs []string) (any, error) {
		if n <= pollRetries {
			return nil, errors.New("down")
		}
		return nil, nil
	}
	logs := poll(t, tb, r.handle)
	calls := r.waitCalls(t, pollRetries+1)
	for i, c := range calls[1:] {
		if diff := cmp.Diff(calls[0], c); diff != "" {
			t.Fatalf("retry %d (-first batch +got):\n%s", i+1, diff)
		}
	}
	tb.write(t, holderEvent("hdr_next", 1))
	calls = r.waitCalls(t, pollRetries+2)
	if slices.ContainsFunc(calls[pollRetries+1], func(s string) bool { return slices.Contains(calls[0], s) }) {
		t.Errorf("batch after the skipped one %v repeats its records %v", calls[pollRetries+1], calls[0])
	}
	if errs := logs.lines(t, "ERROR"); len(errs) != 1 {
		t.Errorf("error logs %v, want one for the skipped batch", errs)
	}
}

// The records PollStream hands over are those Lambda would: the outbox's
// event decodes from the NewImage.
func TestPollStreamRecordsCarryTheEnvelope(t *testing.T) {
	t.Parallel()
	tb := newTable(t)
	want := tb.write(t, holderEvents(2)...)
	var (
		mu  sync.Mutex
		got []outbox.Envelope
	)
	r := &recorder{answer: func(int, []string) (any, error) { return nil, nil }}
	poll(t, tb, func(ctx context.Context, raw json.RawMessage) (any, error) {
		var batch events.DynamoDBEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return nil, err
		}
		for _, rec := range batch.Records {
			if rec.EventSourceArn != tb.arn || rec.EventSource != "aws:dynamodb" {
				t.Errorf("record from %q (%q), want the stream %q (aws:dynamodb)", rec.EventSourceArn, rec.EventSource, tb.arn)
			}
			if e, ok, err := outbox.Decode(rec.Change.NewImage); err != nil {
				t.Errorf("record %s: %v", rec.Change.SequenceNumber, err)
			} else if ok {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}
		}
		return r.handle(ctx, raw)
	})
	r.waitCalls(t, 1)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envelopes in the records (-want +got):\n%s", diff)
	}
}
