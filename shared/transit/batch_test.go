package transit

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// TestBadTapsAreRefusedOneByOne: each bad tap of a batch gets its own
// stable code and changes nothing; a good tap beside them is accepted.
func TestBadTapsAreRefusedOneByOne(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	id := w.holder(t, 1000)
	now := time.Now().UTC()
	at := now.Add(-10 * time.Minute)
	good := func(tp Tap) Tap { tp.Code = w.code(t, id, at); return tp }
	sideways := good(tap("b-dir", "peoples_square", DirectionIn, at, ""))
	sideways.Direction = "sideways"
	unknownGate := good(tap("b-gate", "peoples_square", DirectionIn, at, ""))
	unknownGate.GateID = "gate-nowhere"
	busGateTap := good(Tap{TapID: "b-org", GateID: "bus-demo-route-71-reader", StopID: "bus_peoples_square", Direction: DirectionIn, At: at.Format(time.RFC3339)})
	atlantis := good(tap("b-stop", "peoples_square", DirectionIn, at, ""))
	atlantis.StopID = "atlantis"
	elsewhere := good(tap("b-where", "peoples_square", DirectionIn, at, ""))
	elsewhere.StopID = "lujiazui"
	entryOnly := good(tap("b-out", "peoples_square", DirectionOut, at, ""))
	entryOnly.GateID = "gate-demo-peoples-square-entry-only"
	expired := tap("b-expired", "peoples_square", DirectionIn, at, w.code(t, id, at.Add(-5*time.Minute)))
	reused := good(tap("b-ok", "xujiahui", DirectionIn, at.Add(time.Second), ""))

	taps := []Tap{
		sideways, unknownGate, busGateTap, atlantis, elsewhere, entryOnly,
		good(tap("b-future", "peoples_square", DirectionIn, now.Add(10*time.Minute), "")),
		good(tap("b-old", "peoples_square", DirectionIn, now.Add(-73*time.Hour), "")),
		good(tap("b-notapin", "lujiazui", DirectionOut, at, "")),
		tap("b-malformed", "peoples_square", DirectionIn, at, "CC1:NOTACODE"),
		expired,
		good(tap("b-ok", "peoples_square", DirectionIn, at, "")),
		reused,
	}
	want := []string{CodeInvalidTap, CodeUnknownGate, CodeGateNotYours, CodeUnknownStop, CodeStopNotAtGate, CodeDirectionNotSupported,
		CodeTapInFuture, CodeTapTooOld, CodeNoTapIn, "malformed", "expired", "", CodeTapIDReused}
	results, err := w.svc.Batch(ctx, taps, metroGate)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range results {
		got = append(got, r.Code)
		if r.TapID != taps[i].TapID || (r.Code != "" && (r.Status != StatusRefused || r.Detail == "")) {
			t.Errorf("result %d = %+v; want %s refused with a detail", i, r, taps[i].TapID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refusal codes (-want +got):\n%s", diff)
	}
	if results[11].Status != StatusAccepted {
		t.Errorf("the good tap: %+v", results[11])
	}

	// Nothing but the good tap-in changed: no trip, no charge, no event,
	// no record of the refused taps (a corrected re-upload is processed).
	if trips := w.trips(t, id); len(trips) != 0 {
		t.Errorf("trips %+v; want none", trips)
	}
	if balance, entries := w.ledger(t, id); balance != 1000 || len(entries) != 0 {
		t.Errorf("balance %d, fares %+v; want 1000 and none", balance, entries)
	}
	if evs := outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"]); len(evs) != 0 {
		t.Errorf("events %+v; want none", evs)
	}
	ids := make([]string, len(taps))
	for i, tp := range taps {
		ids[i] = tp.TapID
	}
	recs, err := w.svc.store.taps(ctx, metroGate.Org, ids)
	if err != nil || len(recs) != 1 || recs["b-ok"] == nil {
		t.Errorf("tap records %v, %v; want only b-ok's", recs, err)
	}
}

// journey is one rider's taps in time order, and what they must cost.
type journey struct {
	holder string
	taps   []Tap
	trips  int
}

// TestConcurrentBatchesChargeEachTapOnce: 200 uploads of 50 taps at once,
// mixing the same riders' taps, repeated taps within a batch and whole
// batches sent again, leave every account equal to the sum of its ledger,
// with one trip and one charge per tap-out.
func TestConcurrentBatchesChargeEachTapOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	now := time.Now().UTC()
	stations := []string{"peoples_square", "lujiazui", "xujiahui", "jingan_temple", "hongqiao_road", "century_avenue", "south_shaanxi_road", "xinzhuang"}
	rng := rand.New(rand.NewPCG(1, 2))
	var journeys []journey
	for h := range 20 {
		j := journey{holder: w.holder(t, 2000), trips: 5}
		at := now.Add(-6 * time.Hour)
		for trip := range j.trips {
			from, to := stations[rng.IntN(len(stations))], stations[rng.IntN(len(stations))]
			at = at.Add(time.Duration(5+rng.IntN(20)) * time.Minute)
			j.taps = append(j.taps, tap(fmt.Sprintf("h%02d-%d-in", h, trip), from, DirectionIn, at, w.code(t, j.holder, at)))
			at = at.Add(time.Duration(5+rng.IntN(30)) * time.Minute)
			j.taps = append(j.taps, tap(fmt.Sprintf("h%02d-%d-out", h, trip), to, DirectionOut, at, w.code(t, j.holder, at)))
		}
		journeys = append(journeys, j)
	}
	// A batch carries four riders' whole days (an offline gate uploads all
	// it has), shuffled, and ten of its taps again.
	var batches [][]Tap
	for range 150 {
		var b []Tap
		for _, k := range rng.Perm(len(journeys))[:4] {
			b = append(b, journeys[k].taps...)
		}
		rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		for range 10 {
			b = append(b, b[rng.IntN(40)])
		}
		batches = append(batches, b)
	}
	for range 50 {
		batches = append(batches, batches[rng.IntN(150)])
	}

	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			results, err := w.svc.Batch(ctx, b, metroGate)
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
				return
			}
			for _, r := range results {
				if r.Status == StatusRefused {
					t.Errorf("batch %d: %+v refused", i, r)
				}
			}
		})
	}
	wg.Wait()

	for _, j := range journeys {
		balance, entries := w.ledger(t, j.holder)
		trips := w.trips(t, j.holder)
		var charged int64
		for _, tr := range trips {
			charged += tr.Fare.ChargedFen
			if tr.Status != TripCompleted {
				t.Errorf("holder %s: trip %+v; want completed", j.holder, tr)
			}
		}
		if len(trips) != j.trips || len(entries) != j.trips || balance != 2000-charged {
			t.Errorf("holder %s: %d trips, %d charges, balance %d; want %d of each and 2000 - %d", j.holder, len(trips), len(entries), balance, j.trips, charged)
		}
	}
}
