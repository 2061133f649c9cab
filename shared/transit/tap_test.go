package transit

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// TestTripIsChargedOnceWithItsEvents: a tap-in and a tap-out make one trip,
// charged once with its ledger entry and its two events; retries of either
// tap are duplicates that change nothing.
func TestTripIsChargedOnceWithItsEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	id := w.holder(t, 1000)
	now := time.Now().UTC()
	in := tap("t-in", "peoples_square", DirectionIn, now.Add(-20*time.Minute), "")
	out := tap("t-out", "lujiazui", DirectionOut, now.Add(-2*time.Minute), "")
	in.Code, out.Code = w.code(t, id, now), w.code(t, id, now)

	r, err := w.svc.Tap(ctx, in, metroGate)
	if err != nil || r.Status != StatusAccepted || r.TripID == "" || r.Trip != nil || r.MayTravel == nil || !*r.MayTravel {
		t.Fatalf("tap-in: %+v, %v; want accepted with an open trip", r, err)
	}
	res, err := w.svc.Tap(ctx, out, metroGate)
	if err != nil || res.Status != StatusAccepted || res.Trip == nil || res.TripID != r.TripID {
		t.Fatalf("tap-out: %+v, %v; want the trip completed", res, err)
	}
	trip := *res.Trip
	if trip.Fare.ChargedFen != 300 || trip.Fare.Basis != "metro_distance" || trip.Status != TripCompleted || trip.Exit == nil ||
		trip.Entry.StopName != "People's Square" || trip.Exit.StopID != "lujiazui" || trip.EntryID != "fare_"+trip.TripID {
		t.Errorf("trip = %+v; want People's Square to Lujiazui for 300 fen", trip)
	}
	for _, retry := range []Tap{in, out} {
		again, err := w.svc.Tap(ctx, retry, metroGate)
		if err != nil || again.Status != StatusDuplicate || again.TripID != r.TripID {
			t.Errorf("retry of %s: %+v, %v; want a duplicate of trip %s", retry.TapID, again, err, r.TripID)
		}
	}
	reused := in
	reused.StopID, reused.GateID = "lujiazui", "gate-lujiazui-01"
	if again, err := w.svc.Tap(ctx, reused, metroGate); err != nil || again.Code != CodeTapIDReused {
		t.Errorf("tap id reused for another tap: %+v, %v; want tap_id_reused", again, err)
	}

	balance, entries := w.ledger(t, id)
	if balance != 700 || len(entries) != 1 || entries[0].AmountFen != -300 {
		t.Errorf("balance %d, fare entries %+v; want 700 after one charge of 300", balance, entries)
	}
	if got := w.trips(t, id); len(got) != 1 || !cmp.Equal(got[0], trip) {
		t.Errorf("stored trips (-want +got):\n%s", cmp.Diff([]Trip{trip}, got))
	}
	var types []string
	for _, e := range outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"]) {
		if e.Subject != id {
			continue
		}
		outboxtest.CheckSchema(t, e)
		types = append(types, e.Type)
	}
	want := []string{typeTripCompleted, typeFareCharged}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestClonedCodeTapsInOnce: one code shown at several stations at once is
// accepted at one gate; the others answer replayed and open nothing.
func TestClonedCodeTapsInOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	id := w.holder(t, 1000)
	now := time.Now().UTC()
	code := w.code(t, id, now)
	stations := []string{"peoples_square", "lujiazui", "xujiahui", "jingan_temple"}
	results := make([]Result, len(stations))
	var wg sync.WaitGroup
	for i, st := range stations {
		wg.Go(func() {
			r, err := w.svc.Tap(ctx, tap("clone-"+st, st, DirectionIn, now, code), metroGate)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	accepted := 0
	for _, r := range results {
		switch {
		case r.Status == StatusAccepted:
			accepted++
		case r.Code != CodeReplayed:
			t.Errorf("%s: %+v; want accepted or replayed", r.TapID, r)
		}
	}
	if accepted != 1 {
		t.Errorf("accepted %d times: %s", accepted, describeResults(results))
	}
	// The code is used up for transit: a later tap-in elsewhere is replayed
	// too, but the same code may tap out (a same-station exit).
	if r, err := w.svc.Tap(ctx, tap("clone-late", "hongqiao_road", DirectionIn, now, code), metroGate); err != nil || r.Code != CodeReplayed {
		t.Errorf("a later clone: %+v, %v; want replayed", r, err)
	}
}
