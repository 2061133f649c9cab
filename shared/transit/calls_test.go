package transit

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
)

func total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

func countedWorld(t testing.TB) (world, *dynamotest.CallCounter) {
	counter := &dynamotest.CallCounter{}
	return newWorld(t, &http.Client{Transport: counter}), counter
}

// TestCallsPerOnlineTap counts the storage calls of each kind of online
// tap: the scanner's read of the holder, one consistent read of the rider
// (state, account, tap record), the outbox's read of the sequence counter
// when there are events, and one transaction.
func TestCallsPerOnlineTap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w, counter := countedWorld(t)
	id := w.holder(t, 1000)
	now := time.Now().UTC()
	bus := Tap{TapID: "c-bus", GateID: "bus-demo-route-71-reader", StopID: "bus_peoples_square", Direction: DirectionIn,
		At: now.Add(-time.Minute).Format(time.RFC3339), Code: w.code(t, id, now)}
	for _, tc := range []struct {
		name string
		tap  Tap
		want map[string]int
	}{
		{"bus", bus, map[string]int{"BatchGetItem": 2, "TransactGetItems": 1, "TransactWriteItems": 1}},
		{"metro tap-in", tap("c-in", "peoples_square", DirectionIn, now.Add(-30*time.Second), w.code(t, id, now)),
			map[string]int{"BatchGetItem": 1, "TransactGetItems": 1, "TransactWriteItems": 1}},
		{"metro tap-out", tap("c-out", "lujiazui", DirectionOut, now, w.code(t, id, now)),
			map[string]int{"BatchGetItem": 2, "TransactGetItems": 1, "TransactWriteItems": 1}},
	} {
		by := metroGate
		if tc.tap.GateID == bus.GateID {
			by = busGate
		}
		counter.Take()
		r, err := w.svc.Tap(ctx, tc.tap, by)
		if err != nil || r.Status != StatusAccepted {
			t.Fatalf("%s: %+v, %v", tc.name, r, err)
		}
		if diff := cmp.Diff(tc.want, counter.Take()); diff != "" {
			t.Errorf("%s: storage calls (-want +got):\n%s", tc.name, diff)
		}
	}
}

// BenchmarkOnlineTrip reports the DynamoDB calls of one metro trip tapped
// online (a tap-in and a tap-out), per tap.
func BenchmarkOnlineTrip(b *testing.B) {
	ctx := b.Context()
	w, counter := countedWorld(b)
	id := w.holder(b, 500_000)
	counter.Take()
	b.ResetTimer()
	calls := 0
	for i := range b.N {
		b.StopTimer()
		now := time.Now().UTC()
		in := tap(fmt.Sprintf("bo-%d-in", i), "peoples_square", DirectionIn, now, w.code(b, id, now))
		out := tap(fmt.Sprintf("bo-%d-out", i), "lujiazui", DirectionOut, now, w.code(b, id, now))
		counter.Take()
		b.StartTimer()
		for _, tp := range []Tap{in, out} {
			if r, err := w.svc.Tap(ctx, tp, metroGate); err != nil || r.Status != StatusAccepted {
				b.Fatalf("%+v, %v", r, err)
			}
		}
		calls += total(counter.Take())
	}
	b.ReportMetric(float64(calls)/float64(2*b.N), "calls/tap")
}

// BenchmarkTapBatch500 reports the DynamoDB calls of an offline gate's
// upload of 500 taps: 50 riders' days of five metro trips each.
func BenchmarkTapBatch500(b *testing.B) {
	ctx := b.Context()
	w, counter := countedWorld(b)
	calls := 0
	for i := range b.N {
		b.StopTimer()
		start := time.Now().UTC().Add(-6 * time.Hour)
		var taps []Tap
		for r := range 50 {
			id := w.holder(b, 500_000)
			at := start
			for trip := range 5 {
				at = at.Add(10 * time.Minute)
				taps = append(taps, tap(fmt.Sprintf("bb-%d-%d-%d-in", i, r, trip), "peoples_square", DirectionIn, at, w.code(b, id, at)))
				at = at.Add(20 * time.Minute)
				taps = append(taps, tap(fmt.Sprintf("bb-%d-%d-%d-out", i, r, trip), "xujiahui", DirectionOut, at, w.code(b, id, at)))
			}
		}
		counter.Take()
		b.StartTimer()
		results, err := w.svc.Batch(ctx, taps, metroGate)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			if r.Status != StatusAccepted {
				b.Fatalf("%+v", r)
			}
		}
		calls += total(counter.Take())
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/batch")
	b.ReportMetric(float64(calls)/float64(500*b.N), "calls/tap")
}
