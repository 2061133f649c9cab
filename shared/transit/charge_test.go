package transit

import (
	"context"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/qrverify"
)

// TestDebtTransfersAndMissingTapOuts follows one rider through a bus ride,
// a discounted transfer that overdraws the account, a refused tap-in, a
// post-paid limit, a missing tap-out and a top-up that pays the debt.
func TestDebtTransfersAndMissingTapOuts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	id := w.holder(t, 250)
	now := time.Now().UTC()
	t0 := now.Add(-3 * time.Hour)
	step := func(name string, by func() (Result, error), wantStatus, wantCode string, wantMay bool) Result {
		t.Helper()
		r, err := by()
		if err != nil || r.Status != wantStatus || r.Code != wantCode || r.MayTravel == nil || *r.MayTravel != wantMay {
			t.Fatalf("%s: %+v, %v; want %s %q may_travel %v", name, r, err, wantStatus, wantCode, wantMay)
		}
		return r
	}

	bus := Tap{TapID: "d-bus", GateID: "bus-demo-route-71-reader", StopID: "bus_peoples_square", Direction: DirectionIn,
		At: t0.Format(time.RFC3339), Code: w.code(t, id, t0)}
	r := step("bus boarding", func() (Result, error) { return one(w, bus, busGate) }, StatusAccepted, "", true)
	if r.Trip == nil || r.Trip.Status != TripBus || r.Trip.Fare.ChargedFen != 200 || r.Trip.RouteID != "bus_71" {
		t.Fatalf("bus trip = %+v; want route 71 for 200", r.Trip)
	}

	in := tap("d-in", "peoples_square", DirectionIn, t0.Add(20*time.Minute), "")
	in.Code = w.code(t, id, t0.Add(20*time.Minute))
	step("metro tap-in", func() (Result, error) { return one(w, in, metroGate) }, StatusAccepted, "", true)
	out := tap("d-out", "lujiazui", DirectionOut, t0.Add(40*time.Minute), "")
	out.Code = w.code(t, id, t0.Add(40*time.Minute))
	r = step("metro tap-out", func() (Result, error) { return one(w, out, metroGate) }, StatusAccepted, "", false)
	if tr := r.Trip; tr == nil || tr.Fare.BaseFen != 300 || tr.Fare.ChargedFen != 200 || len(tr.Fare.Adjustments) != 1 ||
		tr.Fare.Adjustments[0].Code != fares.AdjustTransferDiscount || tr.UnpaidFen != 150 {
		t.Fatalf("transfer trip = %+v; want 300 - 100 transfer discount, 150 of it unpaid", tr)
	}
	acct, err := w.hs.Account(ctx, id)
	if err != nil || acct.BalanceFen != -150 || acct.DebtFen != 150 || acct.MayTravel() {
		t.Fatalf("account %+v, %v; want -150 with a debt of 150", acct, err)
	}

	refusedIn := tap("d-refused", "xujiahui", DirectionIn, now, w.code(t, id, now))
	step("online tap-in in debt", func() (Result, error) { return w.svc.Tap(ctx, refusedIn, metroGate) },
		StatusRefused, CodeInsufficientFunds, false)

	if err := w.hs.SetPostpaidLimit(ctx, id, 2000); err != nil {
		t.Fatal(err)
	}
	open := tap("d-open", "xujiahui", DirectionIn, now.Add(-2*time.Minute), w.code(t, id, now))
	step("tap-in on credit", func() (Result, error) { return w.svc.Tap(ctx, open, metroGate) }, StatusAccepted, "", true)
	// No tap-out: the next tap-in closes that trip at the maximum fare.
	next := tap("d-next", "hongqiao_road", DirectionIn, now, w.code(t, id, now))
	step("tap-in with a trip open", func() (Result, error) { return w.svc.Tap(ctx, next, metroGate) }, StatusAccepted, "", true)
	trips := w.trips(t, id)
	if len(trips) != 3 || trips[0].Status != TripMissingTapOut || trips[0].Fare.Basis != fares.BasisMissingTapOutMax ||
		trips[0].Entry.StopID != "xujiahui" || trips[0].Exit != nil || trips[0].Fare.ChargedFen < 300 {
		t.Fatalf("trips = %+v; want the xujiahui trip closed at the maximum fare, newest first", trips)
	}
	maxFare := trips[0].Fare.ChargedFen

	if _, err := w.hs.TopUp(ctx, id, "top_pay_debt", 2000); err != nil {
		t.Fatal(err)
	}
	balance, entries := w.ledger(t, id)
	if want := 250 - 200 - 200 - maxFare + 2000; balance != want || len(entries) != 3 {
		t.Errorf("balance %d with %d fares; want %d with 3", balance, len(entries), want)
	}
	if acct, _ := w.hs.Account(ctx, id); acct.DebtFen != 0 || !acct.MayTravel() {
		t.Errorf("after the top-up: %+v; want no debt", acct)
	}
}

// one processes a single tap the offline way: a batch of one.
func one(w world, tp Tap, by qrverify.Scanner) (Result, error) {
	rs, err := w.svc.Batch(context.Background(), []Tap{tp}, by)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}
