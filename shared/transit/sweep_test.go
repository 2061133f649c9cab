package transit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

func (w world) sweeper(grace time.Duration) *Sweeper {
	return NewSweeper(w.net, w.svc.store, grace, slog.New(slog.DiscardHandler))
}

// openRiders lists the riders the open-trips index holds, in any shard.
func (w world) openRiders(t testing.TB) []string {
	t.Helper()
	var ids []string
	for k := range openShards {
		err := w.svc.store.overdue(context.Background(), shardName(k), time.Now().Add(time.Hour), func(id string) error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(ids)
	return ids
}

// tapIn taps id in at station at the time at, the offline way.
func (w world) tapIn(t testing.TB, id, tapID, station string, at time.Time) Result {
	t.Helper()
	r, err := one(w, tap(tapID, station, DirectionIn, at, w.code(t, id, at)), metroGate)
	if err != nil || r.Status != StatusAccepted {
		t.Fatalf("tap-in %s: %+v, %v", tapID, r, err)
	}
	return r
}

// TestSweepClosesTripsLeftOpen: a trip open longer than the tap-out limit
// and the grace is closed at the maximum fare, once, with its charge and
// events; younger trips stay open, and the index lists only open trips.
func TestSweepClosesTripsLeftOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	now := time.Now().UTC()
	limit := w.net.TapOutLimit()
	old, inGrace, young := w.holder(t, 1000), w.holder(t, 1000), w.holder(t, 1000)
	oldIn := w.tapIn(t, old, "s-old", "xujiahui", now.Add(-limit-2*time.Hour))
	w.tapIn(t, inGrace, "s-grace", "xujiahui", now.Add(-limit-30*time.Minute))
	w.tapIn(t, young, "s-young", "peoples_square", now.Add(-time.Hour))
	if diff := cmp.Diff(slices.Sorted(slices.Values([]string{old, inGrace, young})), w.openRiders(t)); diff != "" {
		t.Fatalf("open-trips index (-want +got):\n%s", diff)
	}

	sw := w.sweeper(time.Hour)
	res, err := sw.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trips := w.trips(t, old)
	if len(trips) != 1 {
		t.Fatalf("trips of the rider who never tapped out: %+v; want one", trips)
	}
	tr := trips[0]
	if tr.TripID != oldIn.TripID || tr.Status != TripMissingTapOut || tr.Fare.Basis != fares.BasisMissingTapOutMax || tr.Exit != nil ||
		tr.Fare.ChargedFen <= 300 || tr.EntryID != "fare_"+tr.TripID {
		t.Errorf("swept trip = %+v; want trip %s closed at the maximum fare from Xujiahui", tr, oldIn.TripID)
	}
	if want := (SweepResult{Closed: 1, ChargedFen: tr.Fare.ChargedFen}); res != want {
		t.Errorf("sweep = %+v; want %+v", res, want)
	}
	balance, entries := w.ledger(t, old)
	if len(entries) != 1 || balance != 1000-tr.Fare.ChargedFen {
		t.Errorf("balance %d with fares %+v; want one charge of %d", balance, entries, tr.Fare.ChargedFen)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values([]string{inGrace, young})), w.openRiders(t)); diff != "" {
		t.Errorf("open-trips index after the sweep (-want +got):\n%s", diff)
	}
	var types []string
	for _, e := range outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"]) {
		if e.Subject == old {
			outboxtest.CheckSchema(t, e)
			types = append(types, e.Type)
		}
	}
	if diff := cmp.Diff([]string{typeTripCompleted, typeFareCharged}, types); diff != "" {
		t.Errorf("events of the swept trip (-want +got):\n%s", diff)
	}

	// Again: nothing more to close. Without the grace, the trip past the
	// limit is closed too, and the young one still is not.
	if res, err := sw.Run(ctx); err != nil || res != (SweepResult{}) {
		t.Errorf("second sweep: %+v, %v; want nothing closed", res, err)
	}
	if res, err := w.sweeper(0).Run(ctx); err != nil || res.Closed != 1 {
		t.Errorf("sweep without grace: %+v, %v; want the trip past the limit closed", res, err)
	}
	if diff := cmp.Diff([]string{young}, w.openRiders(t)); diff != "" {
		t.Errorf("open-trips index at the end (-want +got):\n%s", diff)
	}
	if _, entries := w.ledger(t, old); len(entries) != 1 {
		t.Errorf("fares of the swept rider after more sweeps: %+v; want still one", entries)
	}
}

// TestSweepRacingTapsChargesOnce: sweeps running at the same moment as the
// riders' own late tap-outs, and tap-ins that close the same trips, charge
// each trip exactly once, whoever wins.
func TestSweepRacingTapsChargesOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	now := time.Now().UTC()
	tappedIn := now.Add(-w.net.TapOutLimit() - 10*time.Minute)
	const riders = 12
	ids := make([]string, riders)
	trips := make([]string, riders)
	late := make([]Tap, riders)
	for i := range riders {
		ids[i] = w.holder(t, 5000)
		trips[i] = w.tapIn(t, ids[i], fmt.Sprintf("r-%d-in", i), "peoples_square", tappedIn).TripID
		// Half the riders tap out late, half tap in again elsewhere (which
		// closes the open trip as a missing tap-out).
		if i%2 == 0 {
			late[i] = tap(fmt.Sprintf("r-%d-out", i), "lujiazui", DirectionOut, now, w.code(t, ids[i], now))
		} else {
			late[i] = tap(fmt.Sprintf("r-%d-next", i), "xujiahui", DirectionIn, now, w.code(t, ids[i], now))
		}
	}

	maxFare, err := w.net.Price(fares.Ride{Mode: fares.Metro, EntryStop: "peoples_square", TapIn: tappedIn}, fares.History{})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	results := make([]Result, riders)
	closed := make([]int, 2)
	for k := range closed {
		wg.Go(func() {
			res, err := w.sweeper(0).Run(ctx)
			if err != nil {
				t.Error(err)
			}
			closed[k] = res.Closed
		})
	}
	for i := range riders {
		wg.Go(func() {
			r, err := w.svc.Tap(ctx, late[i], metroGate)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()

	for i, id := range ids {
		r := results[i]
		switch {
		case r.Status == StatusAccepted:
		case i%2 == 0 && r.Code == CodeNoTapIn: // the sweep closed the trip first
		default:
			t.Errorf("rider %d's late tap: %+v; want accepted, or no_tap_in after the sweep", i, r)
		}
		n := 0
		for _, tr := range w.trips(t, id) {
			if tr.TripID == trips[i] {
				n++
				if tr.Fare.ChargedFen != maxFare.ChargedFen {
					t.Errorf("rider %d: trip %+v; want the maximum fare, whoever closed it", i, tr)
				}
			}
		}
		if n != 1 {
			t.Errorf("rider %d: the old trip is listed %d times; want once", i, n)
		}
		if _, fares := w.ledger(t, id); len(fares) != 1 {
			t.Errorf("rider %d: %d fares charged; want one (%+v)", i, len(fares), fares)
		}
	}
	t.Logf("the sweeps closed %v of %d trips", closed, riders)
	if len(w.openRiders(t)) != riders/2 {
		t.Errorf("open trips after the race: %v; want the %d new tap-ins' trips only", w.openRiders(t), riders/2)
	}
}

// TestSweepConfig reads the sweep's environment.
func TestSweepConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"TRANSIT_TABLE": "t", "HOLDERS_TABLE": "h", "TRANSIT_GTFS_DIR": "g", "FARE_RULES_FILE": "f", "EVENTS_TABLE": "e"}
	for _, tc := range []struct {
		name  string
		set   map[string]string
		grace time.Duration
		ok    bool
	}{
		{"defaults", nil, time.Hour, true},
		{"no grace", map[string]string{"TRANSIT_SWEEP_GRACE": "0s"}, 0, true},
		{"negative grace", map[string]string{"TRANSIT_SWEEP_GRACE": "-1m"}, 0, false},
		{"grace past the oldest upload", map[string]string{"TRANSIT_SWEEP_GRACE": "73h"}, 0, false},
		{"no table", map[string]string{"TRANSIT_TABLE": ""}, 0, false},
		{"no events table", map[string]string{"EVENTS_TABLE": ""}, 0, false},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.set {
			env[k] = v
		}
		cfg, err := SweepConfigFrom(app.Env(func(k string) string { return env[k] }))
		if (err == nil) != tc.ok || (tc.ok && cfg.Grace != tc.grace) {
			t.Errorf("%s: %+v, %v; want ok %v, grace %s", tc.name, cfg, err, tc.ok, tc.grace)
		}
	}
}
