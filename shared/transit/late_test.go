package transit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// refunds are id's transit_refund ledger entries (after checking that the
// balance is the sum of the ledger).
func (w world) refunds(t testing.TB, id string) []holders.Entry {
	t.Helper()
	w.ledger(t, id)
	p, err := w.hs.Entries(context.Background(), id, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var rs []holders.Entry
	for _, e := range p.Items {
		if e.Kind == kindRefund {
			rs = append(rs, e)
		}
	}
	return rs
}

// trip is id's trip tripID.
func (w world) trip(t testing.TB, id, tripID string) Trip {
	t.Helper()
	for _, tr := range w.trips(t, id) {
		if tr.TripID == tripID {
			return tr
		}
	}
	t.Fatalf("rider %s has no trip %s", id, tripID)
	return Trip{}
}

// missedTrip taps id in at Xujiahui at in and has the trip closed as a
// missing tap-out by how ("sweep", or "next tap-in": a tap-in at Lujiazui
// an hour later); it answers the closed trip.
func (w world) missedTrip(t testing.TB, id, how string, in time.Time) Trip {
	t.Helper()
	tripID := w.tapIn(t, id, id+"-in", "xujiahui", in).TripID
	switch how {
	case "sweep":
		if res, err := w.sweeper(time.Hour).Run(t.Context()); err != nil || res.Closed < 1 {
			t.Fatalf("sweep: %+v, %v", res, err)
		}
	case "next tap-in":
		w.tapIn(t, id, id+"-next", "lujiazui", in.Add(time.Hour))
	}
	tr := w.trip(t, id, tripID)
	if tr.Status != TripMissingTapOut {
		t.Fatalf("trip %+v; want closed as a missing tap-out", tr)
	}
	return tr
}

// TestLateTapOutRepricesTheTripOnce: a tap-out uploaded after its trip was
// closed at the maximum fare (by the sweep, or by the rider's next tap-in)
// reprices the trip with its real exit and refunds the difference once,
// paying off debt first; the month's metro spending follows; the events
// are valid; a retry is a duplicate and another tap-out for the same trip
// is refused.
func TestLateTapOutRepricesTheTripOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	now := time.Now().UTC()
	in := now.Add(-w.net.TapOutLimit() - 3*time.Hour)
	exitAt := in.Add(40 * time.Minute)
	real, err := w.net.Price(fares.Ride{Mode: fares.Metro, EntryStop: "xujiahui", ExitStop: "peoples_square", TapIn: in, TapOut: exitAt}, fares.History{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, how string
		balance   int64
	}{
		{"swept", "sweep", 5000},
		{"closed by the next tap-in", "next tap-in", 5000},
		{"swept, charged into debt", "sweep", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := w.holder(t, tc.balance)
			closed := w.missedTrip(t, id, tc.how, in)
			maxFen := closed.Fare.ChargedFen
			if maxFen <= real.ChargedFen {
				t.Fatalf("maximum fare %d, real fare %d: nothing to refund", maxFen, real.ChargedFen)
			}
			out := tap(id+"-out", "peoples_square", DirectionOut, exitAt, w.code(t, id, exitAt))
			r, err := one(w, out, metroGate)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != StatusAccepted || r.TripID != closed.TripID || r.Trip == nil {
				t.Fatalf("late tap-out: %+v; want accepted, repricing trip %s", r, closed.TripID)
			}
			refund := maxFen - real.ChargedFen
			got := w.trip(t, id, closed.TripID)
			want := closed
			want.Status = TripCompleted
			stop, _ := w.net.Stop("peoples_square")
			want.Exit = &Point{StopID: "peoples_square", StopName: stop.Name, GateID: "gate-peoples-square-01", At: exitAt}
			want.DistanceM, want.Fare = real.DistanceM, got.Fare
			want.RepricedAt, want.RefundFen, want.RefundEntryID = got.RepricedAt, refund, "refund_"+closed.TripID
			want.UnpaidFen = max(0, closed.UnpaidFen-refund)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("repriced trip (-want +got):\n%s", diff)
			}
			if got.RepricedAt == nil || got.Fare.ChargedFen != real.ChargedFen || got.Fare.Basis != fares.BasisMetroDistance {
				t.Errorf("repriced fare %+v at %v; want %d by distance", got.Fare, got.RepricedAt, real.ChargedFen)
			}
			if tc.balance < maxFen && closed.UnpaidFen == 0 {
				t.Errorf("the maximum fare on a balance of %d left no debt: %+v", tc.balance, closed)
			}

			balance, charged := w.ledger(t, id)
			refunds := w.refunds(t, id)
			if len(charged) != 1 || len(refunds) != 1 || refunds[0].AmountFen != refund || refunds[0].EntryID != got.RefundEntryID {
				t.Errorf("fares %+v, refunds %+v; want one charge and one refund of %d", charged, refunds, refund)
			}
			if balance != tc.balance-real.ChargedFen {
				t.Errorf("balance %d; want %d - %d", balance, tc.balance, real.ChargedFen)
			}
			snap, err := w.svc.store.read(t.Context(), id, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if w.net.Month(in) == snap.state.Month && snap.state.MonthMetroFen != real.ChargedFen {
				t.Errorf("month's metro spending %d; want the repriced fare %d", snap.state.MonthMetroFen, real.ChargedFen)
			}

			var types []string
			for _, e := range outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"]) {
				if e.Subject == id {
					outboxtest.CheckSchema(t, e)
					types = append(types, e.Type)
				}
			}
			if diff := cmp.Diff([]string{typeTripCompleted, typeFareCharged, typeFareAdjusted}, types); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}

			// Retried: a duplicate, with the first answer. Another tap-out
			// for the same trip: refused, nothing changes.
			if again, err := one(w, out, metroGate); err != nil || again.Status != StatusDuplicate || again.TripID != closed.TripID {
				t.Errorf("the late tap-out again: %+v, %v; want a duplicate", again, err)
			}
			other := tap(id+"-out2", "lujiazui", DirectionOut, exitAt.Add(time.Minute), w.code(t, id, exitAt.Add(time.Minute)))
			if r, err := one(w, other, metroGate); err != nil || r.Code != CodeNoTapIn {
				t.Errorf("a second tap-out for the repriced trip: %+v, %v; want no_tap_in", r, err)
			}
			if b, _ := w.ledger(t, id); b != balance || len(w.refunds(t, id)) != 1 {
				t.Errorf("after the retries: balance %d, refunds %+v; want %d and one", b, w.refunds(t, id), balance)
			}
		})
	}
}

// TestLateTapOutsRacingRefundOnce: the same late tap-out uploaded many
// times at once, racing another tap-out for the same trip, reprices the
// trip once and refunds once.
func TestLateTapOutsRacingRefundOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	in := time.Now().UTC().Add(-w.net.TapOutLimit() - 3*time.Hour)
	id := w.holder(t, 5000)
	closed := w.missedTrip(t, id, "sweep", in)
	taps := []Tap{
		tap("race-a", "peoples_square", DirectionOut, in.Add(30*time.Minute), w.code(t, id, in.Add(30*time.Minute))),
		tap("race-b", "lujiazui", DirectionOut, in.Add(50*time.Minute), w.code(t, id, in.Add(50*time.Minute))),
	}
	const copies = 6
	results := make([]Result, 2*copies)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			r, err := one(w, taps[i%2], metroGate)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()

	count := map[string]int{}
	for _, r := range results {
		count[fmt.Sprintf("%s %s %s", r.TapID, r.Status, r.Code)]++
	}
	winner, loser := "race-a", "race-b"
	if count["race-b accepted "] == 1 {
		winner, loser = loser, winner
	}
	want := map[string]int{winner + " accepted ": 1, winner + " duplicate ": copies - 1, loser + " refused " + CodeNoTapIn: copies}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	got := w.trip(t, id, closed.TripID)
	refunds := w.refunds(t, id)
	if len(refunds) != 1 || got.RefundFen != refunds[0].AmountFen || got.Fare.ChargedFen+got.RefundFen != closed.Fare.ChargedFen {
		t.Errorf("trip %+v, refunds %+v; want one refund of the difference", got, refunds)
	}
	if balance, _ := w.ledger(t, id); balance != 5000-got.Fare.ChargedFen {
		t.Errorf("balance %d; want 5000 - %d", balance, got.Fare.ChargedFen)
	}
}

// TestLateTapOutsThatEndNoClosedTrip are still refused no_tap_in, and
// change nothing.
func TestLateTapOutsThatEndNoClosedTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	limit := w.net.TapOutLimit()
	in := time.Now().UTC().Add(-limit - 3*time.Hour)
	for _, tc := range []struct {
		name string
		how  string
		out  time.Duration // after the tap-in
	}{
		{"beyond the tap-out limit", "sweep", limit + time.Minute},
		{"before the tap-in", "sweep", -time.Minute},
		// A bus boarding after the metro tap-in: the rider left the metro
		// before it, and the tap-out after the boarding is not the trip's.
		{"after a later bus boarding", "bus", 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := w.holder(t, 5000)
			how := tc.how
			if how == "bus" {
				board := in.Add(time.Hour)
				bus := Tap{TapID: id + "-bus", GateID: "bus-demo-route-71-reader", StopID: "bus_peoples_square", Direction: DirectionIn,
					At: board.Format(time.RFC3339Nano), Code: w.code(t, id, board)}
				how = "none"
				w.tapIn(t, id, id+"-in", "xujiahui", in)
				if r, err := one(w, bus, busGate); err != nil || r.Status != StatusAccepted {
					t.Fatalf("bus boarding: %+v, %v", r, err)
				}
			} else {
				w.missedTrip(t, id, how, in)
			}
			balance, _ := w.ledger(t, id)
			before := w.trips(t, id)
			at := in.Add(tc.out)
			r, err := one(w, tap(id+"-out", "peoples_square", DirectionOut, at, w.code(t, id, at)), metroGate)
			if err != nil || r.Code != CodeNoTapIn {
				t.Errorf("tap-out: %+v, %v; want no_tap_in", r, err)
			}
			if diff := cmp.Diff(before, w.trips(t, id)); diff != "" {
				t.Errorf("trips changed (-before +after):\n%s", diff)
			}
			if b, _ := w.ledger(t, id); b != balance || len(w.refunds(t, id)) != 0 {
				t.Errorf("balance %d, refunds %+v; want %d and none", b, w.refunds(t, id), balance)
			}
		})
	}
}
